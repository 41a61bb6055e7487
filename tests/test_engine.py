import csv
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import write_gray

import samtl_lite.engine.loop as loop
from samtl_lite import CheckpointError, TrainingDiverged
from samtl_lite.cli import main
from samtl_lite.data import SyntheticDefects
from samtl_lite.engine import (
    TrainConfig,
    build_from_config,
    fit,
    load_checkpoint,
    load_model,
    pick_device,
    predict_images,
    save_checkpoint,
    train_and_evaluate,
)

TINY = dict(epochs=3, batch_size=8, lr=3e-3)


def tiny_data(n=48, seed=0):
    return SyntheticDefects(n=n, size=32, seed=seed, defect_rate=0.5), SyntheticDefects(n=24, size=32, seed=99)


def test_fit_writes_history_and_checkpoints(tmp_path):
    train, val = tiny_data()
    history = fit(build_from_config(TrainConfig(**TINY)), train, val, TrainConfig(**TINY), tmp_path, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert {"loss", "loss_seg", "loss_cls", "lr", "val_ap", "val_seg_recall"} <= set(history[0])
    assert history[-1]["lr"] < history[0]["lr"]  # cosine decay
    assert json.loads((tmp_path / "history.json").read_text()) == json.loads(json.dumps(history))
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 2 and TrainConfig.from_dict(state["config"]) == TrainConfig(**TINY)
    assert (tmp_path / "best.pt").is_file()


def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch):
    train, val = tiny_data()
    config = TrainConfig(**TINY)
    torch.manual_seed(0)
    full = build_from_config(config)
    fit(full, train, val, config, tmp_path / "full", progress=False)

    calls = {"n": 0}
    real = loop.evaluate_during_training

    def crash_on_second_validation(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed during epoch 2, after its training steps
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate_during_training", crash_on_second_validation)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(build_from_config(config), train, val, config, tmp_path / "cut", progress=False)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 0
    monkeypatch.setattr(loop, "evaluate_during_training", real)
    torch.manual_seed(123)  # a different fresh init: resume must overwrite it entirely
    resumed = build_from_config(config)
    history = fit(resumed, train, val, config, tmp_path / "cut", resume=True, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    full_hist = json.loads((tmp_path / "full" / "history.json").read_text())
    assert full_hist == json.loads((tmp_path / "cut" / "history.json").read_text())


def test_same_seed_same_run_on_cpu(tmp_path):
    train, val = tiny_data()
    config = TrainConfig(**{**TINY, "epochs": 1})
    runs = []
    for name in ("a", "b"):
        torch.manual_seed(0)
        model = build_from_config(config)
        fit(model, train, val, config, tmp_path / name, progress=False)
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    train, val = tiny_data()
    config = TrainConfig(**TINY)
    real_forward = loop.JointLoss.forward
    epochs_seen = {"n": 0}

    def poisoned(self, out, mask, label):
        parts = real_forward(self, out, mask, label)
        if self.w_seg and loop.torch.is_grad_enabled() and epochs_seen["n"] >= 1:
            return parts._replace(total=parts.total * float("nan"))
        return parts

    real_eval = loop.evaluate_during_training

    def count(*a, **k):
        epochs_seen["n"] += 1
        return real_eval(*a, **k)

    monkeypatch.setattr(loop.JointLoss, "forward", poisoned)
    monkeypatch.setattr(loop, "evaluate_during_training", count)
    with pytest.raises(TrainingDiverged, match="epoch 2.*last.pt still holds"):
        fit(build_from_config(config), train, val, config, tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 0 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_checkpoint_errors(tmp_path):
    train, val = tiny_data()
    config = TrainConfig(**{**TINY, "epochs": 1})
    fit(build_from_config(config), train, val, config, tmp_path, progress=False)
    other = TrainConfig(**{**TINY, "epochs": 2, "decoder": "fpn"})
    with pytest.raises(CheckpointError, match="decoder: checkpoint 'unet' vs now 'fpn'"):
        fit(build_from_config(other), train, val, other, tmp_path, resume=True, progress=False)
    cut = tmp_path / "cut.pt"
    cut.write_bytes((tmp_path / "last.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cut.pt.*truncated or corrupt"):
        load_checkpoint(cut)

    class Payload:  # unpickling this would run a shell command
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "x": Payload()}, evil, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="evil.pt: refused"):
        load_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()


def test_atomic_save_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}, "config": {}})

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {"model": {}, "config": {}, "bad": Unsaveable()})
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temp file left behind


def test_train_evaluate_report_and_predict(tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 2})
    result = train_and_evaluate(config, "synthetic", tmp_path / "run", size=32, progress=False, n_train=48, n_eval=40)
    run = tmp_path / "run"
    for name in ("config.json", "history.json", "metrics.json", "results.csv", "pr_curve.png", "curves.png",
                 "recall_by_area.png", "best.pt", "last.pt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["score_threshold"] == metrics["thresholds"]["score"] == result["thresholds"]["score"]
    assert metrics["test"]["n_samples"] == 40 and "test_gated" in metrics
    assert metrics["test"]["tp"] + metrics["test"]["fn"] == metrics["test"]["n_defective"]
    with open(run / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40 and {"name", "label", "score", "decision", "area_fraction", "iou"} <= set(rows[0])
    misses = sorted(p.name for p in (run / "misses").iterdir())
    assert misses == sorted(misses) and all(n[:2].isdigit() for n in misses)

    for name, (h, w) in (("odd.png", (37, 53)), ("tall.png", (100, 61))):
        write_gray(tmp_path / "new" / name, np.random.default_rng(0).integers(0, 255, (h, w)))
    csv_path = predict_images(run / "best.pt", [tmp_path / "new"], tmp_path / "pred")
    with open(csv_path) as f:
        preds = list(csv.DictReader(f))
    assert [p["file"].endswith(n) for p, n in zip(preds, ("odd.png", "tall.png"))] == [True, True]
    from PIL import Image

    assert Image.open(tmp_path / "pred" / "odd_mask.png").size == (53, 37)
    assert (tmp_path / "pred" / "tall_overlay.png").is_file()
    model, cfg, _ = load_model(run / "best.pt")
    assert cfg == config and not model.training


def test_cli_demo_with_a_tiny_override(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "1", "--n-train", "32", "--n-eval", "24",
                 "--size", "32", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| metric | seg-only | mtl | mtl + gating |" in out and "Seg_Recall" in out
    assert (tmp_path / "comparison.md").is_file() and (tmp_path / "mtl" / "metrics.json").is_file()


def test_cli_train_evaluate_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--n-train", "32", "--n-eval", "24", "--size", "32", "--epochs", "1",
                 "--out", str(run), "--no-progress", "--model", "seg-only"]) == 0
    assert "test: AP" in capsys.readouterr().out
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--size", "32", "--split", "val",
                 "--no-progress"]) == 0
    assert (run / "metrics_synthetic_val.json").is_file()
    write_gray(tmp_path / "x.png", np.zeros((45, 70)))
    assert main(["predict", "--checkpoint", str(run / "best.pt"), str(tmp_path / "x.png"),
                 "--out", str(tmp_path / "p")]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "1", "--decoder", "fpn", "--size", "32",
                 "--n-train", "32", "--n-eval", "24", "--no-progress"]) == 2
    assert "different model" in capsys.readouterr().err


def test_ddp_two_cpu_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "samtl_lite.cli", "train", "--n-train", "40", "--n-eval", "22", "--size", "32", "--epochs", "2",
           "--batch-size", "8", "--out", str(tmp_path / "ddp"), "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert [h["val_n_samples"] for h in history] == [22, 22]  # both ranks' halves, nothing doubled
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["test"]["n_samples"] == 22


def test_device_choice_and_config_round_trip():
    assert pick_device("auto").type in ("cuda", "mps", "cpu")
    assert pick_device("cpu").type == "cpu"
    c = TrainConfig(encoder="resnet18", epochs=3)
    assert TrainConfig.from_dict({**c.to_dict(), "unknown_future_key": 1}) == c
