"distilser.loso: metrics, folds, CREMA-D kept in training, and a resumable `distilser loso` run on real RAVDESS audio."
import json, shutil

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from distilser.data import cremad_manifest, iemocap_manifest, make_cremad_fixture, make_iemocap_fixture
from distilser.loso import compute_metrics, make_folds, split_fold


def test_metrics_against_hand_counts():
    m = compute_metrics([0, 0, 0, 0, 1, 1, 2, 3, 3, 3], [0, 0, 1, 1, 1, 1, 2, 3, 3, 2])
    assert m["wa"] == pytest.approx(7 / 10)
    assert m["ua"] == pytest.approx((2 / 4 + 1 + 1 + 2 / 3) / 4)
    assert m["f1_anger"] == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert m["f1_happiness"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert m["macro_f1"] == pytest.approx(np.mean([m[k] for k in ("f1_anger", "f1_happiness", "f1_neutral", "f1_sadness")]))
    assert m["confusion"] == [[2, 2, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 1, 2]]


def test_session_folds_validate_on_the_next_session():
    folds = make_folds([f"Session{s}" for s in (3, 1, 5, 2, 4)])
    assert [(f["test"], f["validation"]) for f in folds] == [([f"Session{s}"], [f"Session{s % 5 + 1}"]) for s in range(1, 6)]
    assert all(len(f["train"]) == 3 for f in folds)


def test_cremad_only_ever_trains(tmp_path):
    iemocap = iemocap_manifest(make_iemocap_fixture(tmp_path/"i", categories=("neu", "hap", "ang", "sad")))
    cremad = cremad_manifest(make_cremad_fixture(tmp_path/"c", actors=(1001,), sentences=("DFA",)))
    assert len(cremad) == 4  # ANG HAP NEU SAD; the empty file is reported and skipped
    for fold in make_folds(iemocap.group):
        train, val, test = split_fold(iemocap, fold, extra_train=cremad)
        assert (train.corpus == "cremad").sum() == len(cremad)
        assert set(val.corpus) == set(test.corpus) == {"iemocap"}
        assert set(test.group) == set(fold["test"]) and not set(test.speaker) & set(train.speaker)


def fold_files(out, folds):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for k in folds for p in sorted((out/f"fold_{k}").iterdir())}


def test_cli_loso_ravdess_writes_folds_and_resumes(subset_root, tmp_path):
    out = tmp_path/"run"
    args = ["loso", "--ravdess", subset_root, "--out", out, "--epochs", "1", "--backbone", "offline:tiny",
            "--max-seconds", "3"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    for k in range(1, 6):
        metrics = json.loads((out/f"fold_{k}"/"metrics.json").read_text())
        assert 0 <= metrics["test"]["ua"] <= 1 and np.array(metrics["test"]["confusion"]).shape == (4, 4)
        preds = pd.read_csv(out/f"fold_{k}"/"predictions.csv")
        config = json.loads((out/f"fold_{k}"/"config.json").read_text())
        assert set(preds.group) == set(config["fold"]["test"])
        assert len(preds) == np.sum(metrics["test"]["confusion"]) == config["sizes"]["test"]
        assert not (out/f"fold_{k}"/"checkpoints").exists()  # deleted once the best model was loaded
    summary = pd.read_csv(out/"summary.csv", index_col=0)
    assert list(summary.index) == [f"fold_{k}" for k in range(1, 6)] + ["mean", "std"]
    assert summary.loc["mean", "ua"] == pytest.approx(summary.iloc[:5]["ua"].mean())
    assert "random weights" in (out/"summary.md").read_text()

    kept = fold_files(out, (1, 2, 3))
    for k in (4, 5): shutil.rmtree(out/f"fold_{k}")  # as if the run had been killed after fold 3
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert fold_files(out, (1, 2, 3)) == kept  # finished folds untouched: same bytes, same mtimes
    assert all((out/f"fold_{k}"/"metrics.json").is_file() for k in (4, 5))

    changed = run_cli(*args[:5], "--epochs", "2", *args[7:])
    assert changed.returncode == 2 and "epochs 1 -> 2" in changed.stderr and "Traceback" not in changed.stderr
