"`distilser loso` as a user runs it: a resumable five-fold run on real RAVDESS audio (the notebook tests the parts)."
import json, shutil

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli


def fold_files(out, folds):
    "Every file a fold wrote (its model's too), with its bytes and modification time."
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for k in folds for p in sorted((out/f"fold_{k}").rglob("*"))
            if p.is_file()}


def test_cli_loso_ravdess_writes_folds_and_resumes(subset_root, tmp_path):
    out = tmp_path/"run"
    args = ["loso", "--ravdess", subset_root, "--out", out, "--epochs", "1", "--backbone", "offline:tiny",
            "--window-seconds", "1"]  # 1 s windows: random weights, the loop is what is tested
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    for k in range(1, 6):
        metrics = json.loads((out/f"fold_{k}"/"metrics.json").read_text())
        assert 0 <= metrics["test"]["ua"] <= 1 and np.array(metrics["test"]["confusion"]).shape == (4, 4)
        preds = pd.read_csv(out/f"fold_{k}"/"predictions.csv")
        config = json.loads((out/f"fold_{k}"/"config.json").read_text())
        assert set(preds.group) == set(config["fold"]["test"])
        assert (config["settings"]["epochs"], config["settings"]["window_seconds"]) == (1, 1.0)
        assert len(preds) == np.sum(metrics["test"]["confusion"]) == config["sizes"]["test"]
        assert not (out/f"fold_{k}"/"checkpoints").exists()  # deleted once the best model was loaded
    summary = pd.read_csv(out/"summary.csv", index_col=0)
    assert list(summary.index) == [f"fold_{k}" for k in range(1, 6)] + ["mean", "std"]
    assert summary.loc["mean", "ua"] == pytest.approx(summary.iloc[:5]["ua"].mean())  # float64 as written: ~1e-16
    assert "random weights" in (out/"summary.md").read_text()

    kept = fold_files(out, (1, 2, 3, 4))
    shutil.rmtree(out/"fold_5")  # as if the run had been killed after fold 4
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr[-2000:]
    assert fold_files(out, (1, 2, 3, 4)) == kept  # finished folds untouched: same bytes, same mtimes
    assert (out/"fold_5"/"metrics.json").is_file()

    changed = run_cli(*args[:5], "--epochs", "2", *args[7:])
    assert changed.returncode == 2 and "epochs 1 -> 2" in changed.stderr and "Traceback" not in changed.stderr
