"""Batch analysis on SageMaker Processing, the endpoint handler and the endpoint launcher (moto on loopback)."""

import csv
import io
import json
import os
import tarfile
import urllib.request

import pytest

from mmsa.synth import make_video
from tests.helpers import recorded_requests

pytestmark = pytest.mark.e2e  # real speech recognition, a browser or a moto server

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "mmsa-test-bucket"
SECRET_KEY = "testing"  # moto's credentials: must not appear in any job setting


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Five generated clips (one in a subfolder) and one file that is not a video."""
    folder = tmp_path_factory.mktemp("videos")
    lines = ["I am so happy today.", "This is terrible news.", "Where are my keys?", "We won the game!",
             "Please leave me alone."]
    for i, text in enumerate(lines):
        sub = folder / "season1" if i == 4 else folder
        sub.mkdir(exist_ok=True)
        make_video(sub / f"clip{i}.mp4", text, size=(160, 120))
    (folder / "notes.mp4").write_text("this is a text file, not a video\n")
    return folder


def read_manifest(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_entry_point_writes_one_json_per_video_and_a_manifest_and_resumes(clips, tmp_path, tiny_model_dir, capsys):
    from training.analyze_entry import main

    out = tmp_path / "results"
    argv = ["--videos", str(clips), "--output", str(out), "--model-dir", str(tmp_path / "none"),
            "--model", str(tiny_model_dir)]
    assert main(argv) == 0
    parts = list((out / "_manifest").glob("part-*.csv"))
    assert len(parts) == 1
    rows = {r["video"]: r for r in read_manifest(parts[0])}
    assert set(rows) == {"clip0.mp4", "clip1.mp4", "clip2.mp4", "clip3.mp4", "season1/clip4.mp4", "notes.mp4"}
    assert [v for v, r in rows.items() if r["status"] == "ok"] == sorted(set(rows) - {"notes.mp4"})
    bad = rows["notes.mp4"]
    assert bad["status"] == "error" and "notes.mp4" in bad["error"] and str(clips) not in bad["error"]
    results = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert results == ["clip0.mp4.json", "clip1.mp4.json", "clip2.mp4.json", "clip3.mp4.json",
                       "season1/clip4.mp4.json"]
    for name in results:
        data = json.loads((out / name).read_text())
        assert data["source"] == name[:-5] and data["utterances"] and "summary" in data
        assert int(rows[name[:-5]]["utterances"]) == len(data["utterances"])
        assert float(rows[name[:-5]]["seconds"]) == pytest.approx(data["duration"], abs=0.01)
    assert "1 failed" in capsys.readouterr().out
    # a second run skips what is done and tries the bad file again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    assert main(argv) == 0
    again = read_manifest(parts[0])[len(rows):]
    assert sorted(r["status"] for r in again) == ["error"] + ["skipped"] * 5
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}


def test_entry_point_reads_a_model_archive_from_its_input(clips, tmp_path, tiny_model_dir):
    from training.analyze_entry import model_source

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        for f in tiny_model_dir.iterdir():
            tar.add(str(f), arcname=f.name)
    folder = model_source(model_dir, "ignored-when-an-archive-is-there", tmp_path / "scratch")
    assert sorted(os.listdir(folder)) == sorted(os.listdir(tiny_model_dir))
    assert model_source(tmp_path / "missing", "org/model", tmp_path) == "org/model"


def _start_recording(endpoint):
    for action in ("reset-recording", "start-recording"):
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method="POST"))


def _stop_recording(endpoint):
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/recorder/stop-recording", method="POST"))


def test_batch_launcher_shards_only_the_videos_without_results(aws, capsys, monkeypatch):
    from training.analyze_sagemaker import main

    s3, sm = aws.client("s3"), aws.client("sagemaker")
    for key in ("videos/a.mp4", "videos/b.mov", "videos/show/c.mkv", "videos/.hidden"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"video bytes")
    s3.put_object(Bucket=BUCKET, Key="results/a.mp4.json", Body=b"{}")  # done by an earlier run
    monkeypatch.setenv("HF_TOKEN", "hf_SENTINEL_never_in_a_job")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    _start_recording(endpoint)
    try:
        rc = main([f"s3://{BUCKET}/videos/", f"s3://{BUCKET}/results/", "--model", "org/emotion-model",
                   "--role", ROLE, "--region", "us-east-1", "--instance-type", "ml.c7i.2xlarge",
                   "--instance-count", "3", "--job-name", "mmsa-batch", "--max-duration", "1800"])
    finally:
        _stop_recording(endpoint)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "3 videos under" in out and "1 already have a result, 2 to analyse" in out
    job_name = next(line.split()[2] for line in out.splitlines() if line.startswith("processing job:"))
    job = sm.describe_processing_job(ProcessingJobName=job_name)
    inputs = {i["InputName"]: i["S3Input"] for i in job["ProcessingInputs"]}
    assert inputs["videos"]["S3DataType"] == "ManifestFile"
    assert inputs["videos"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["code"]["S3DataDistributionType"] == "FullyReplicated"
    assert job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"s3://{BUCKET}/results"
    assert "pytorch-training" in job["AppSpecification"]["ImageUri"]
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=inputs["videos"]["S3Uri"].split(BUCKET + "/")[1])
                          ["Body"].read())
    assert manifest == [{"prefix": f"s3://{BUCKET}/videos/"}, "b.mov", "show/c.mkv"]
    code = {o["Key"].split("/code/")[1] for o in s3.list_objects_v2(
        Bucket=BUCKET, Prefix=f"results/_jobs/{job_name}/code/")["Contents"]}
    assert {"run.sh", "training/analyze_entry.py", "mmsa/batch.py", "training/requirements-analysis.txt"} <= code
    # moto keeps no instance settings or environment for Processing jobs: read them from the request it recorded
    create = [r for r in recorded_requests(endpoint) if "SageMaker.CreateProcessingJob" in r]
    assert len(create) == 1
    body = json.loads(create[0][create[0].index('{"ProcessingJobName"'):])
    assert body["ProcessingResources"]["ClusterConfig"] == {"InstanceCount": 3, "InstanceType": "ml.c7i.2xlarge",
                                                            "VolumeSizeInGB": 100}
    assert body["Environment"]["MMSA_MODEL"] == "org/emotion-model"
    assert body["Environment"]["MMSA_MAX_DURATION"] == "1800"  # the job's analyzer reads it
    assert not [v for v in body["Environment"].values() if "hf_" in v or SECRET_KEY in v]
    assert not [r for r in recorded_requests(endpoint) if "hf_SENTINEL" in r]


def test_batch_launcher_waits_then_writes_the_combined_manifest(aws, capsys):
    from training.analyze_sagemaker import main

    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key="w/videos/x.mp4", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="w/videos/y.mp4", Body=b"y")
    # what two instances would have written (moto runs no container: the job "completes" at once)
    s3.put_object(Bucket=BUCKET, Key="w/results/_manifest/part-algo-1.csv",
                  Body=b"video,status,utterances,seconds,error\nx.mp4,ok,3,4.5,\n")
    s3.put_object(Bucket=BUCKET, Key="w/results/_manifest/part-algo-2.csv",
                  Body=b"video,status,utterances,seconds,error\ny.mp4,error,0,0,y.mp4: not a video\n")
    rc = main([f"s3://{BUCKET}/w/videos", f"s3://{BUCKET}/w/results", "--role", ROLE, "--region", "us-east-1",
               "--wait"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Completed" in out and "1 error, 1 ok" in out
    body = s3.get_object(Bucket=BUCKET, Key="w/results/manifest.csv")["Body"].read().decode()
    assert list(csv.DictReader(io.StringIO(body))) == [
        {"video": "x.mp4", "status": "ok", "utterances": "3", "seconds": "4.5", "error": ""},
        {"video": "y.mp4", "status": "error", "utterances": "0", "seconds": "0", "error": "y.mp4: not a video"}]


@pytest.mark.parametrize("extra, expected", [
    (["--spot"], "spot capacity to training jobs only"),
    (["--model", "s3://bucket/model.zip"], "must be a model.tar.gz"),
    (["--role", "admin"], "--role must be an IAM role ARN"),
    (["--instance-count", "0"], "--instance-count must be >= 1"),
    (["--max-duration", "nan"], "--max-duration must be a number of seconds > 0"),
])
def test_batch_settings_are_checked_before_any_request(aws, extra, expected, capsys):
    from training.analyze_sagemaker import main

    base = [f"s3://{BUCKET}/v/", f"s3://{BUCKET}/r/", "--role", ROLE, "--region", "us-east-1"]
    assert main(base + extra) == 2
    assert expected in capsys.readouterr().err


def test_results_inside_the_videos_prefix_are_refused(aws, capsys):
    from training.analyze_sagemaker import main

    assert main([f"s3://{BUCKET}/v/", f"s3://{BUCKET}/v/results/", "--role", ROLE, "--region", "us-east-1"]) == 2
    assert "must not be inside the videos prefix" in capsys.readouterr().err
    assert main(["videos/", f"s3://{BUCKET}/r/", "--role", ROLE, "--region", "us-east-1"]) == 2
    assert "must be an S3 URI like s3://" in capsys.readouterr().err


def test_endpoint_handler_answers_with_the_contract(aws, clips, tiny_model_dir):
    from training import sagemaker_inference as handler

    analyzer = handler.model_fn(str(tiny_model_dir))
    body = (clips / "clip0.mp4").read_bytes()
    path = handler.input_fn(body, "video/mp4")
    answer = json.loads(handler.output_fn(handler.predict_fn(path, analyzer), "application/json"))
    assert answer["utterances"] and answer["duration"] > 0 and "speakers" in answer["summary"]
    assert not path.exists() and not path.parent.exists()  # the request's file is gone
    # a video already in S3, by URI
    aws.client("s3").put_object(Bucket=BUCKET, Key="in/clip.mp4", Body=body)
    path = handler.input_fn(json.dumps({"s3_uri": f"s3://{BUCKET}/in/clip.mp4"}), "application/json")
    assert json.loads(handler.output_fn(handler.predict_fn(path, analyzer), None))["utterances"]
    # bad requests are answered with what is wrong, and no server path
    with pytest.raises(ValueError, match="upload.mp4") as bad:
        handler.predict_fn(handler.input_fn(b"not a video at all", "video/mp4"), analyzer)
    assert "/tmp" not in str(bad.value) and "mmsa_request_" not in str(bad.value)
    with pytest.raises(ValueError, match="unsupported content type 'text/plain'"):
        handler.input_fn(b"hello", "text/plain")
    with pytest.raises(ValueError, match='must be {"s3_uri"'):
        handler.input_fn(b"[1, 2]", "application/json")
    with pytest.raises(ValueError, match="could not read s3_uri"):
        handler.input_fn(json.dumps({"s3_uri": f"s3://{BUCKET}/in/missing.mp4"}), "application/json")
    with pytest.raises(ValueError, match="unsupported Accept"):
        handler.output_fn({}, "text/csv")


def test_deploy_creates_async_and_serverless_endpoints_and_deletes_them(aws, capsys, tiny_model_dir):
    from training.deploy_sagemaker import main

    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    base = ["--role", ROLE, "--region", "us-east-1", "--bucket", BUCKET]
    trained = io.BytesIO()  # what a training job writes: the model folder as model.tar.gz
    with tarfile.open(fileobj=trained, mode="w:gz") as tar:
        for f in tiny_model_dir.iterdir():
            tar.add(str(f), arcname=f.name)
    s3.put_object(Bucket=BUCKET, Key="models/model.tar.gz", Body=trained.getvalue())
    assert main(["--endpoint-name", "mmsa-async", "--model", f"s3://{BUCKET}/models/model.tar.gz", "--async",
                 "--output", f"s3://{BUCKET}/async-out", "--instance-type", "ml.c5.2xlarge", *base]) == 0
    assert main(["--endpoint-name", "mmsa-serverless", "--model", "org/emotion-model", "--serverless",
                 "--memory-mb", "4096", *base]) == 0
    out = capsys.readouterr().out
    assert "asynchronous endpoint mmsa-async" in out and "serverless endpoint mmsa-serverless" in out

    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(
        EndpointName="mmsa-async")["EndpointConfigName"])
    assert config["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == f"s3://{BUCKET}/async-out/"
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.c5.2xlarge" and variant["InitialInstanceCount"] == 1
    model = sm.describe_model(ModelName=variant["ModelName"])
    container = model["PrimaryContainer"]
    assert "pytorch-inference" in container["Image"]
    env = container["Environment"]
    assert env["SAGEMAKER_PROGRAM"] == "inference.py" and "MMSA_MODEL" not in env
    assert not [v for v in env.values() if "hf_" in v or SECRET_KEY in v]
    # the container reads one model.tar.gz: the trained model's files on top, the handler and packages in code/
    bucket, key = container["ModelDataUrl"][len("s3://"):].split("/", 1)
    assert key.startswith("mmsa/endpoints/mmsa-async/") and key.endswith("/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        names = set(tar.getnames())
        shim = tar.extractfile("code/inference.py").read().decode()
    assert {f.name for f in tiny_model_dir.iterdir()} <= names
    assert {"code/inference.py", "code/requirements.txt", "code/training/sagemaker_inference.py",
            "code/mmsa/analyze.py"} <= names
    assert "from training.sagemaker_inference import" in shim

    serverless = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(
        EndpointName="mmsa-serverless")["EndpointConfigName"])["ProductionVariants"][0]
    assert serverless["ServerlessConfig"] == {"MemorySizeInMB": 4096, "MaxConcurrency": 2}
    served = sm.describe_model(ModelName=serverless["ModelName"])["PrimaryContainer"]
    assert served["Environment"]["MMSA_MODEL"] == "org/emotion-model" and served["ModelDataUrl"].endswith(".tar.gz")

    assert main(["--endpoint-name", "mmsa-async", "--region", "us-east-1", "--delete"]) == 0
    assert "mmsa-async" not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert variant["ModelName"] not in [m["ModelName"] for m in sm.list_models()["Models"]]
    assert main(["--endpoint-name", "mmsa-async", "--region", "us-east-1", "--delete"]) == 1
    assert "there is no endpoint 'mmsa-async'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, expected", [
    (["--async"], "--async needs --output"),
    (["--serverless", "--memory-mb", "5000"], "--memory-mb must be one of"),
    (["--output", "s3://b/o"], "--output is only used with --async"),
    (["--model", "s3://my-bucket/model.bin"], "must be a model.tar.gz"),
])
def test_deploy_settings_are_checked_before_any_request(aws, extra, expected, capsys):
    from training.deploy_sagemaker import main

    argv = ["--endpoint-name", "e1", "--role", ROLE, "--region", "us-east-1", "--bucket", BUCKET, *extra]
    assert main(argv) == 2
    assert expected in capsys.readouterr().err
    assert main(["--endpoint-name", "bad_name!", "--region", "us-east-1", "--delete"]) == 2
    assert main(["--endpoint-name", "e" * 47, "--region", "us-east-1", "--delete"]) == 2
    assert "1-46 letters" in capsys.readouterr().err


def test_results_written_inside_the_input_folder_are_not_taken_for_videos(clips, tmp_path, tiny_model_dir):
    import shutil

    from mmsa.analyze import Analyzer
    from mmsa.batch import analyze_folder

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(clips / "clip0.mp4", folder / "clip0.mp4")
    analyzer = Analyzer(str(tiny_model_dir))
    first = analyze_folder(analyzer, folder, folder / "results")
    again = analyze_folder(analyzer, folder, folder / "results")
    assert [r["video"] for r in first] == ["clip0.mp4"] and [r["status"] for r in first] == ["ok"]
    assert [(r["video"], r["status"]) for r in again] == [("clip0.mp4", "skipped")]
