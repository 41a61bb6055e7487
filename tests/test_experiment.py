import json

import numpy as np

from samtl_lite.cli import main
from samtl_lite.engine.experiment import run_experiment, summarize


def test_smoke_experiment_aggregates_seeds_and_reuses_finished_runs(tmp_path, capsys):
    tiny = dict(epochs=1, n_train=32, n_eval=24, size=32)
    report = run_experiment("cpu", tmp_path, seeds=(0, 1), datasets=("synthetic",), progress=False,
                            ablation_seeds=1, **tiny)
    summary = report["datasets"]["synthetic"]["summary"]
    assert list(summary) == ["seg-only", "mtl", "mtl + gating", "mtl-detached"]
    for variant, row in summary.items():
        values = row["ap"]["values"]
        assert len(values) == (1 if variant == "mtl-detached" else 2) and row["ap"]["mean"] == np.mean(values)
        assert row["fn"]["std"] == np.std(row["fn"]["values"])
    assert not (tmp_path / "synthetic" / "mtl-detached" / "seed1").exists()
    assert "| mtl-detached (1 seed) |" in (tmp_path / "results.md").read_text()
    mtl = json.loads((tmp_path / "synthetic" / "mtl" / "seed1" / "metrics.json").read_text())
    assert summary["mtl"]["ap"]["values"][1] == mtl["test"]["ap"]
    assert summary["mtl + gating"]["seg_recall"]["values"][0] == json.loads(
        (tmp_path / "synthetic" / "mtl" / "seed0" / "metrics.json").read_text())["test_gated"]["seg_recall"]
    assert "| ap |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "recall_by_area_synthetic.png").is_file()
    stamp = (tmp_path / "synthetic" / "mtl" / "seed0" / "best.pt").stat().st_mtime_ns
    assert main(["experiment", "--out", str(tmp_path), "--seeds", "0", "1", "--datasets", "synthetic",
                 "--epochs", "1", "--n-train", "32", "--n-eval", "24", "--size", "32", "--ablation-seeds", "1",
                 "--no-progress"]) == 0
    assert (tmp_path / "synthetic" / "mtl" / "seed0" / "best.pt").stat().st_mtime_ns == stamp  # reused
    assert main(["experiment", "--out", str(tmp_path), "--seeds", "0", "--datasets", "synthetic", "--epochs", "1",
                 "--n-train", "32", "--n-eval", "24", "--size", "32", "--no-progress", "--ema", "0.9"]) == 2
    # a finished run of another recipe is never mixed into the table
    assert "ema: checkpoint None vs now 0.9" in capsys.readouterr().err
    report = run_experiment("cpu", tmp_path, seeds=(0,), datasets=("synthetic",), progress=False,
                            **{**tiny, "epochs": 2})  # more epochs: the finished runs go on
    history = json.loads((tmp_path / "synthetic" / "mtl" / "seed0" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert report["datasets"]["synthetic"]["summary"]["mtl"]["ap"]["values"] == [
        json.loads((tmp_path / "synthetic" / "mtl" / "seed0" / "metrics.json").read_text())["test"]["ap"]]


def test_summary_by_hand():
    runs = {"a": [{"ap": 0.5, "fn": 2}, {"ap": 0.7, "fn": 4}]}
    s = summarize(runs)["a"]
    assert s["ap"]["mean"] == 0.6 and abs(s["ap"]["std"] - 0.1) < 1e-12
    assert s["fn"]["mean"] == 3 and np.isnan(s["seg_miou"]["mean"])
