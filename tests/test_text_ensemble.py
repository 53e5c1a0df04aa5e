"""benchmarks.text_ensemble: words models scored alone and averaged, on real MELD dev rows."""

import csv
import re
from pathlib import Path

import pytest

MELD_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "meld" / "dev_sent_emo.csv"


@pytest.fixture(scope="module")
def dev_rows(tmp_path_factory) -> Path:
    """The first 80 MELD dev utterances, as a CSV of their own."""
    with open(MELD_DEV, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [r for _, r in zip(range(80), reader)]
    path = tmp_path_factory.mktemp("ensemble") / "dev80.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _figures(out: str) -> list[tuple[float, float, float]]:
    return [tuple(float(v) for v in m) for m in re.findall(r": (\d\.\d{3}) / (\d\.\d{3}) / (\d\.\d{3})", out)]


def test_scores_match_the_evaluator_and_a_model_averaged_with_itself_is_unchanged(dev_rows, capsys):
    import torch

    from benchmarks.text_ensemble import main
    from mmsa.model import MultimodalSentimentModel, load_model
    from training.evaluate import evaluate

    # a second, different words model: the tiny preset's words branch alone, saved as a folder
    other = dev_rows.parent / "tiny-text"
    torch.manual_seed(0)
    MultimodalSentimentModel.tiny(modalities=["text"]).save_pretrained(str(other))
    assert main(["--model", "starter-text", "--model", "starter-text", "--model", str(other),
                 "--csv", str(dev_rows)]) == 0
    out = capsys.readouterr().out
    figures = _figures(out)
    # 3 alone, 3 pairs, 1 triple
    assert len(figures) == 7 and out.count("(2x the words' cost)") == 3 and "(3x the words' cost)" in out
    alone, same_twice = figures[0], figures[3]
    metrics, _, _ = evaluate(load_model("starter-text")[0], str(dev_rows))
    assert alone == (round(metrics["emotion"]["weighted_f1"], 3), round(metrics["emotion"]["macro_f1"], 3),
                     round(metrics["sentiment"]["weighted_f1"], 3))
    assert same_twice == alone
    # a random words model pulls the pair away from the trained one's reading
    assert figures[4] != alone and figures[4] != figures[2]


def test_bad_inputs_are_named(dev_rows, tiny_model_dir, capsys):
    from benchmarks.text_ensemble import main

    with pytest.raises(SystemExit) as e:
        main(["--model", "starter-text", "--csv", str(dev_rows.parent / "missing.csv")])
    assert e.value.code == 2 and "--csv" in capsys.readouterr().err
    unlabelled = dev_rows.parent / "unlabelled.csv"
    unlabelled.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit) as e:
        main(["--model", "starter-text", "--csv", str(unlabelled)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "unlabelled.csv: expected columns" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["--model", str(tiny_model_dir), "--csv", str(dev_rows)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "not a words-only model" in err
    with pytest.raises(SystemExit) as e:
        main(["--model", str(dev_rows.parent / "no-model-here"), "--csv", str(dev_rows)])
    assert e.value.code == 2 and "--model" in capsys.readouterr().err
