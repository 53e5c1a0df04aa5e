"""The SageMaker launcher and push path against moto's AWS emulator on loopback."""

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.helpers import RecordingHfApi, recorded_requests, write_meld_split


ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture(scope="module")
def meld_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sm_data")
    train, dev = root / "train", root / "dev"
    write_meld_split(train, "train_sent_emo.csv", "train_splits", dialogues=1)
    write_meld_split(dev, "dev_sent_emo.csv", "dev_splits_complete", dialogues=1)
    return train, dev


@pytest.mark.e2e
def test_launcher_records_the_job_and_uploads_data_and_source(aws, meld_dirs, capsys):
    from training.train_sagemaker import main

    train, dev = meld_dirs
    rc = main(["--train", str(train), "--dev", str(dev), "--role", ROLE, "--region", "us-east-1",
               "--bucket", "mmsa-test-bucket", "--instance-type", "ml.g5.12xlarge", "--instance-count", "2",
               "--spot", "--epochs", "7", "--modalities", "text,audio", "--class-weighting", "balanced",
               "--dialogue-context", "2", "--text-only", "--job-name", "mmsa-test"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "training job: mmsa-test" in out and "model.tar.gz" in out
    sm = aws.client("sagemaker")
    name = sm.list_training_jobs()["TrainingJobSummaries"][0]["TrainingJobName"]
    job = sm.describe_training_job(TrainingJobName=name)
    assert "pytorch-training" in job["AlgorithmSpecification"]["TrainingImage"]
    assert job["AlgorithmSpecification"]["TrainingImage"].startswith("763104351884.dkr.ecr.us-east-1")
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.12xlarge"
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 24 * 3600
    assert job["CheckpointConfig"]["S3Uri"] == "s3://mmsa-test-bucket/mmsa/checkpoints/mmsa-test"
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://mmsa-test-bucket/mmsa/output"
    hps = {k: json.loads(v) if v.startswith(("[", "{", '"')) else v for k, v in job["HyperParameters"].items()}
    flat = json.dumps(hps)
    assert "epochs" in hps and "7" in str(hps["epochs"])
    assert "text,audio" in flat and "balanced" in flat and "text-only" in hps and "dialogue-context" in hps
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]}
    assert {"train", "dev"} <= set(channels)
    s3 = aws.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mmsa-test-bucket").get("Contents", [])]
    train_prefix = channels["train"].split("mmsa-test-bucket/", 1)[1]
    assert any(k.startswith(train_prefix) and k.endswith("train_sent_emo.csv") for k in keys), keys
    assert any(k.endswith("dia0_utt3.mp4") for k in keys)
    code = [k.split("/input/code/", 1)[1] for k in keys if "/input/code/" in k]
    assert {"training/sagemaker_entry.py", "training/train.py", "mmsa/model.py",
            "training/requirements-sagemaker.txt"} <= set(code)
    assert not [c for c in code if c.startswith((".venv/", ".git/", "tests/"))]


def test_hyperparameters_map_one_to_one_back_to_train_flags():
    from training.sagemaker_entry import hyperparameters_to_argv
    from training.train import build_parser as train_parser
    from training.train_sagemaker import build_parser, training_hyperparameters

    args = build_parser().parse_args(["--train", "s3://b/t", "--epochs", "3", "--lr", "0.002", "--text-only",
                                      "--modalities", "text"])
    hps = training_hyperparameters(args)
    argv = hyperparameters_to_argv(json.loads(json.dumps({k: str(v) for k, v in hps.items()})))
    parsed = train_parser().parse_args(argv)
    assert (parsed.epochs, parsed.lr, parsed.text_only, parsed.modalities) == (3, 0.002, True, "text")
    assert parsed.batch_size == args.batch_size and parsed.class_weighting == args.class_weighting


@pytest.mark.parametrize("drop,expected", [("--role", "--role (or $SAGEMAKER_ROLE)"),
                                           ("--region", "--region (or $AWS_REGION)"),
                                           ("--bucket", "--bucket (or $MMSA_S3_BUCKET)")])
def test_missing_settings_are_named_before_any_request(drop, expected, monkeypatch, capsys, meld_dirs):
    from training.train_sagemaker import main

    for var in ("SAGEMAKER_ROLE", "AWS_REGION", "AWS_DEFAULT_REGION", "MMSA_S3_BUCKET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any request would fail loudly
    full = {"--role": ROLE, "--region": "us-east-1", "--bucket": "b"}
    argv = ["--train", str(meld_dirs[0])]
    for flag, value in full.items():
        if flag != drop:
            argv += [flag, value]
    assert main(argv) == 2
    assert expected in capsys.readouterr().err


def test_missing_credentials_are_reported(monkeypatch, capsys, meld_dirs, tmp_path):
    from training.train_sagemaker import main

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["--train", str(meld_dirs[0]), "--role", ROLE, "--region", "us-east-1", "--bucket", "b"]) == 2
    assert "no AWS credentials found" in capsys.readouterr().err


def test_entry_point_with_sagemaker_environment_writes_a_loadable_model(meld_dirs, tmp_path, monkeypatch,
                                                                         tiny_model_dir):
    from mmsa.model import MultimodalSentimentModel
    from training.sagemaker_entry import main

    train, dev = meld_dirs
    model_dir, out_dir, ckpt = tmp_path / "model", tmp_path / "output", tmp_path / "checkpoints"
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(train))
    monkeypatch.setenv("SM_CHANNEL_DEV", str(dev))
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(out_dir))
    monkeypatch.setenv("SM_CHECKPOINT_DIR", str(ckpt))
    monkeypatch.setenv("MMSA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SM_HPS", json.dumps({"init-from": str(tiny_model_dir), "epochs": 2, "batch-size": 4,
                                             "text-only": "True"}))
    assert main() == 0
    loaded = MultimodalSentimentModel.from_pretrained(str(model_dir))
    assert loaded.config.to_dict() == MultimodalSentimentModel.from_pretrained(str(tiny_model_dir)).config.to_dict() \
        | {"emotion_temperature": loaded.config.emotion_temperature,
           "sentiment_temperature": loaded.config.sentiment_temperature}
    assert (ckpt / "state.json").is_file() and (model_dir / "README.md").is_file()
    assert (out_dir / "training_report.json").is_file()


def _tarball(files: dict[str, bytes], extra=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            tar.addfile(extra)
    return buf.getvalue()


@pytest.mark.e2e
def test_push_from_s3_downloads_checks_and_uploads(aws, tiny_model_dir, monkeypatch, capsys):
    from training.push_to_hub import main

    files = {p.name: p.read_bytes() for p in Path(tiny_model_dir).iterdir() if p.name != "README.md"}
    aws.client("s3").put_object(Bucket="mmsa-test-bucket", Key="mmsa/output/job-1/output/model.tar.gz",
                                Body=_tarball(files))
    RecordingHfApi.reset()
    monkeypatch.setattr("huggingface_hub.HfApi", RecordingHfApi)
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    rc = main(["--from-s3", "s3://mmsa-test-bucket/mmsa/output/job-1/output/model.tar.gz", "--repo-id", "me/model"])
    assert rc == 0, capsys.readouterr().err
    upload = [c for c in RecordingHfApi.calls if c[0] == "create_commit"][0]
    assert upload[1] == "me/model" and {"config.json", "model.safetensors", "README.md"} <= set(upload[2])


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "device"])
def test_unsafe_archives_are_refused(kind, tmp_path):
    from training.push_to_hub import UnsafeArchiveError, safe_extract

    if kind == "dotdot":
        data = _tarball({"../evil.txt": b"x"})
    elif kind == "absolute":
        data = _tarball({"/tmp/evil.txt": b"x"})
    else:
        info = tarfile.TarInfo("link")
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        else:
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        data = _tarball({"config.json": b"{}"}, extra=info)
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "config.json").exists()


TOKEN = "hf_SENTINEL_token_must_not_travel_0123456789"


@pytest.mark.e2e
def test_push_to_hub_jobs_carry_a_secret_name_never_the_token(aws, meld_dirs, monkeypatch, capsys):
    import urllib.request

    from training.train_sagemaker import main

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    train, dev = meld_dirs
    base = ["--train", str(train), "--role", ROLE, "--region", "us-east-1", "--bucket", "mmsa-test-bucket",
            "--text-only", "--job-name", "mmsa-push"]
    assert main(base + ["--push-to-hub", "me/model"]) == 2
    assert "--push-to-hub needs --hub-token-secret NAME" in capsys.readouterr().err
    for action in ("reset-recording", "start-recording"):
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method="POST"))
    try:
        assert main(base + ["--push-to-hub", "me/model", "--hub-token-secret", "mmsa/hf-token"]) == 0
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/recorder/stop-recording",
                                                      method="POST"))
    out = capsys.readouterr().out
    requests = recorded_requests(endpoint)
    create = [r for r in requests if "CreateTrainingJob" in r]
    assert len(create) == 1 and '"MMSA_HF_TOKEN_SECRET": "mmsa/hf-token"' in create[0]
    assert len(requests) > 3 and not [r for r in requests if TOKEN in r] and TOKEN not in out


@pytest.mark.e2e
def test_the_job_reads_the_token_from_secrets_manager(aws, monkeypatch):
    from training.sagemaker_entry import hub_token_from_secret

    sm = aws.client("secretsmanager")
    sm.create_secret(Name="mmsa/plain", SecretString=TOKEN)
    sm.create_secret(Name="mmsa/json", SecretString=json.dumps({"HF_TOKEN": TOKEN}))
    assert hub_token_from_secret("mmsa/plain", "us-east-1") == TOKEN
    assert hub_token_from_secret("mmsa/json", "us-east-1") == TOKEN
    with pytest.raises(SystemExit, match="could not read the Hub token secret 'mmsa/missing'"):
        hub_token_from_secret("mmsa/missing", "us-east-1")
