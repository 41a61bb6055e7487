import csv
import json
import os
import pickle
import subprocess
import sys
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import write_gray
from matplotlib.figure import Figure
from torch import nn

import samtl_lite.engine.loop as loop
from samtl_lite import CheckpointError, DataError, TrainingDiverged
from samtl_lite.cli import main
from samtl_lite.data import SyntheticDefects, load_image, resize_image
from samtl_lite.engine import (
    Predictions,
    TrainConfig,
    build_from_config,
    choose_mask_decision,
    choose_thresholds,
    compute_metrics,
    evaluate_checkpoint,
    fit,
    load_checkpoint,
    load_model,
    pick_device,
    predict_images,
    save_checkpoint,
    splits_of,
    train_and_evaluate,
)
from samtl_lite.engine.loop import kept_epoch, selection_key

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


def test_fit_notes_a_collapsed_sample_head_once(capsys):
    """A head whose last layer outputs its bias alone scores every sample the same: the run says so, once, and
    names the fix; a head that learns, and the seg-only model (no head), get no note."""
    train, val = tiny_data()
    config = TrainConfig(**TINY)
    collapsed = build_from_config(config)
    last = collapsed.cls_head.mlp[-1]
    nn.init.zeros_(last.weight)
    last.weight.requires_grad_(False)  # frozen at zero: the score is sigmoid(bias) for every sample
    history = fit(collapsed, train, val, config, progress=False)
    out = capsys.readouterr().out
    assert all(h["val_score_range"] == 0 for h in history)
    assert out.count("the sample head gave every validation sample the same score") == 1
    assert "note: epoch 1:" in out and "lower --lr (now 0.003)" in out
    torch.manual_seed(0)
    history = fit(build_from_config(config), train, val, config, progress=False)
    assert "same score" not in capsys.readouterr().out and history[-1]["val_score_range"] > 0
    constant = {"epoch": 2, "val_score_range": 0.0}
    assert loop._collapse_note(constant, TrainConfig(model="seg-only")) is None  # its score is the mask's, no head
    assert loop._collapse_note({**constant, "val_score_range": float("nan")}, config) is None  # one sample or none
    assert loop._collapse_note(constant, config).startswith("note: epoch 2: the sample head")


@pytest.mark.parametrize("options", [{}, {"ema": 0.9, "loss_schedule": "uncertainty"}], ids=["plain", "ema"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch, options):
    train, val = tiny_data()
    config = TrainConfig(**TINY, **options)
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
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    for key in ("model", "loss"):  # the weights' average (with EMA) and a learned loss balance resume too
        assert a[key].keys() == b[key].keys() and all(torch.equal(a[key][k], b[key][k]) for k in a[key])


def test_ema_keeps_the_average_of_the_weights(tmp_path):
    """With `ema`, the checkpoint's model is the moving average of the training weights, step by step."""
    train, val = tiny_data()
    decay = 0.8
    config = TrainConfig(**{**TINY, "epochs": 1, "ema": decay})
    steps = []
    real_step = torch.optim.AdamW.step

    def record(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        steps.append([p.detach().clone() for p in self.param_groups[0]["params"]])
        return out

    torch.manual_seed(0)
    model = build_from_config(config)
    torch.optim.AdamW.step = record
    try:
        history = fit(model, train, val, config, tmp_path, progress=False)
    finally:
        torch.optim.AdamW.step = real_step
    average = steps[0]  # the first update copies; each later one moves the average by (1 - decay)
    for weights in steps[1:]:
        average = [decay * a + (1 - decay) * w for a, w in zip(average, weights)]
    state = load_checkpoint(tmp_path / "last.pt")
    kept = [v for k, v in state["model"].items() if "running" not in k and "num_batches" not in k]
    assert len(kept) == len(average) and all(torch.allclose(k, a, atol=1e-6) for k, a in zip(kept, average))
    trained = [v for k, v in state["train_model"].items() if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(t, w) for t, w in zip(trained, steps[-1]))
    assert state["ema_updates"] == len(steps) and history[0]["w_seg"] == 0.5


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
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(evil)
    assert str(err.value) == f"{evil}: refused to load: the file holds Python objects other than tensors and plain " \
        "data (posix.system), which could run code. Only load checkpoints written by samtl_lite."  # no torch advice
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(CheckpointError, match=f"{tmp_path} is a run folder, not a checkpoint: give .*best.pt"):
        load_checkpoint(tmp_path)


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


SMALL = ["--n-train", "32", "--n-eval", "24", "--size", "32", "--epochs", "2", "--batch-size", "8", "--no-progress"]


def test_train_evaluate_report_and_predict(tmp_path, monkeypatch):
    config = TrainConfig(**{**TINY, "epochs": 2}, size=48, n_train=48, n_eval=40, normalize="flatten",
                         lighting_pad="reflect")
    result = train_and_evaluate(config, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.json", "history.json", "metrics.json", "results.csv", "pr_curve.png", "curves.png",
                 "recall_by_area.png", "best.pt", "last.pt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    chosen = result["thresholds"]
    assert metrics["test"]["score_threshold"] == metrics["thresholds"]["score"] == chosen["score"]
    assert metrics["test"]["min_area"] == chosen["min_area"] and metrics["test"]["mask_threshold"] == chosen["mask"]
    assert metrics["test"]["n_samples"] == 40 and "test_gated" in metrics
    assert metrics["test"]["tp"] + metrics["test"]["fn"] == metrics["test"]["n_defective"]
    assert metrics["test"]["seg_tp"] + metrics["test"]["seg_fn"] == metrics["test"]["n_defective"]
    # the model carries its recipe and its thresholds
    saved = json.loads((run / "config.json").read_text())
    assert saved["size"] == 48 and saved["preprocess"] == {"size": 48, "resize": "stretch", "in_channels": 1,
                                                            "normalize": "flatten", "lighting_pad": "reflect"}
    assert saved["thresholds"] == load_checkpoint(run / "best.pt")["thresholds"] == json.loads(json.dumps(chosen))
    with open(run / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40 and {"name", "label", "score", "decision", "mask_decision", "area_fraction", "iou"} <= \
        set(rows[0])
    assert sum(int(r["mask_decision"]) and int(r["label"]) for r in rows) == metrics["test"]["seg_tp"]
    misses = sorted(p.name for p in (run / "misses").iterdir())
    assert misses == sorted(misses) and all(n[:2].isdigit() for n in misses)

    # evaluate reads the data at the model's size and decides with its thresholds: the same numbers again
    again = evaluate_checkpoint(run / "best.pt", progress=False)
    assert json.dumps(again["test"], sort_keys=True) == json.dumps(result["test"], sort_keys=True)

    # any mask threshold in [0, 1], on the candidate grid or not, is evaluated: checked against a count by hand
    model, cfg, _ = load_model(run / "best.pt")
    test = splits_of(cfg, augment=False)[2]
    with torch.no_grad():
        prob = torch.cat([torch.sigmoid(model(test[i]["image"][None]).mask_logits) for i in range(len(test))])
    defective = np.array([test[i]["label"] for i in range(len(test))]) > 0.5
    for mask_threshold in (0.35, 0.05, 0.0, 0.999, 0.1 + 0.2):
        got = evaluate_checkpoint(run / "best.pt", progress=False, overrides={"mask": mask_threshold})["test"]
        flagged = (prob >= mask_threshold).flatten(1).sum(1).numpy() >= chosen["min_area"]
        assert got["mask_threshold"] == mask_threshold
        assert got["seg_tp"] == int((flagged & defective).sum()) and got["seg_fp"] == int((flagged & ~defective).sum())
        assert got["seg_recall"] == pytest.approx(flagged[defective].mean())

    for name, (h, w) in (("odd.png", (37, 53)), ("tall.png", (100, 61))):
        write_gray(tmp_path / "new" / name, np.random.default_rng(0).integers(0, 255, (h, w)))
    drawn: dict[str, Figure] = {}
    with monkeypatch.context() as m:  # keep the overlay figures to read them, and still save them
        m.setattr(plt, "close", lambda fig=None: drawn.setdefault(fig.axes[0].get_title().split(":")[0], fig))
        csv_path = predict_images(run / "best.pt", [tmp_path / "new"], tmp_path / "pred")
    with open(csv_path) as f:
        preds = list(csv.DictReader(f))
    # each overlay says which model made it, its score against the model's threshold, and what the red means
    for p in preds:
        fig, score = drawn[os.path.basename(p["file"])], float(p["score"])
        assert "".join(fig.get_suptitle().split()) == "".join(  # wrapped to the figure's width
            f"model {run / 'best.pt'} (mtl model, tiny encoder, trained on synthetic)".split())
        sign, decision = ("≥", "DEFECTIVE") if int(p["decision"]) else ("<", "clean")
        assert fig.axes[0].get_title() == f"{os.path.basename(p['file'])}: score {score:.3f} {sign} threshold " \
            f"{chosen['score']:.3f} -> {decision}"
        sign, decision = ("≥", "defective") if int(p["mask_decision"]) else ("<", "clean")
        assert fig.axes[0].get_xlabel() == f"red: predicted defect mask, pixels of probability ≥ {chosen['mask']:g} " \
            f"(mask threshold)\nmask decision: {p['mask_pixels']} px at the model's input size {sign} min_area " \
            f"{chosen['min_area']} -> {decision}"
        plt.close(fig)
    assert [p["file"].endswith(n) for p, n in zip(preds, ("odd.png", "tall.png"))] == [True, True]
    from PIL import Image

    assert Image.open(tmp_path / "pred" / "odd_mask.png").size == (53, 37)
    assert (tmp_path / "pred" / "tall_overlay.png").is_file()
    model, cfg, _ = load_model(run / "best.pt")
    assert cfg == config and not model.training and model.lighting_pad == "reflect"
    # predict sees the image as training did: resized to 48 x 48
    image = load_image(tmp_path / "new" / "odd.png")
    with torch.no_grad():
        expected = float(model.sample_scores(model(resize_image(image, 48)[None]))[0])
    assert float(preds[0]["score"]) == pytest.approx(expected, abs=1e-6)


def test_thresholds_are_chosen_for_sample_decisions():
    # four clean samples with 0-3 stray pixels, four defective ones with 6-9: min_area 4 or 5 separates them
    pred_px = np.array([0, 1, 2, 3, 6, 7, 8, 9])
    gt_px = np.array([0, 0, 0, 0, 8, 8, 8, 8])
    stats = {0.5: {"pred": pred_px, "gt": gt_px, "inter": np.minimum(pred_px, gt_px), "pixels": np.full(8, 64)}}
    assert choose_mask_decision(stats) == (0.5, 4)  # F1 1.0; the smaller min_area wins the tie
    # pooled pixel F1 would prefer a threshold whose masks flag every clean sample
    loose = {"pred": gt_px + 1, "gt": gt_px, "inter": gt_px, "pixels": np.full(8, 64)}
    assert choose_mask_decision({0.3: loose, **stats}) == (0.5, 4)
    # one clean sample with 5 stray pixels, one defective sample with 3: F1 takes min_area 1 (TP 4, FP 1);
    # a budget of no false alarm needs min_area 8, which catches one defective sample only
    px = np.array([0, 0, 0, 5, 3, 6, 7, 9])
    hard = {0.5: {"pred": px, "gt": gt_px, "inter": np.minimum(px, gt_px), "pixels": np.full(8, 64)}}
    assert choose_mask_decision(hard) == (0.5, 1)
    assert choose_mask_decision(hard, max_fpr=0.25) == (0.5, 1)
    assert choose_mask_decision(hard, max_fpr=0.0) == (0.5, 8)
    val = Predictions(np.arange(8), (gt_px > 0).astype(float), np.array([.1, .2, .3, .7, .6, .8, .9, .95]), stats)
    chosen = choose_thresholds(val)
    assert chosen["score"] == 0.6 and chosen["rule"] == "max-F1"  # F1 = 8/9, one false alarm (0.7)
    budget = choose_thresholds(val, max_fpr=0.0)
    assert budget["score"] > 0.7 and compute_metrics(val, budget["score"])["fp"] == 0


def test_best_epoch_serves_both_heads():
    early = {"loss": 1.0, "val_loss": 0.9, "val_ap": 0.95, "val_seg_f1": 0.2, "val_seg_miou": 0.05}
    late = {"loss": 0.5, "val_loss": 0.6, "val_ap": 0.93, "val_seg_f1": 0.9, "val_seg_miou": 0.45}
    assert selection_key(late, "joint") > selection_key(early, "joint")
    assert selection_key(early, "ap") > selection_key(late, "ap")
    blind = {"loss": 0.5, "val_loss": 0.4, "val_ap": float("nan"), "val_seg_f1": 0.0, "val_seg_miou": float("nan")}
    worse = {**blind, "val_loss": 0.7}
    assert selection_key(blind, "joint") > selection_key(worse, "joint")  # nan AP: the loss decides
    history = [{"epoch": 1, **early, "kept": True}, {"epoch": 2, **late, "kept": True}]
    assert kept_epoch(history, "joint").startswith("kept epoch 2 of 2: the best joint score 0.760")


def test_cli_same_seed_gives_the_same_model(tmp_path):
    for name in ("a", "b"):
        torch.rand(7)  # whatever ran before must not matter
        assert main(["train", *SMALL, "--seed", "3", "--out", str(tmp_path / name)]) == 0
    a, b = (load_checkpoint(tmp_path / n / "best.pt") for n in ("a", "b"))
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["thresholds"] == b["thresholds"]
    assert main(["train", *SMALL, "--seed", "4", "--out", str(tmp_path / "c")]) == 0
    c = load_checkpoint(tmp_path / "c" / "best.pt")
    assert not all(torch.equal(a["model"][k], c["model"][k]) for k in a["model"])


def test_cli_killed_and_resumed_equals_uninterrupted(tmp_path):
    args = [sys.executable, "-m", "samtl_lite.cli", "train", *SMALL, "--epochs", "3", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*args, "--out", str(tmp_path / "full")], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "cut")], stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stdout:
            if line.startswith("epoch 1/3"):  # printed once epoch 1's checkpoints are on disk
                proc.kill()
                break
    finally:
        proc.wait(timeout=60)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] in (0, 1)
    resumed = subprocess.run([*args[:3], "train", "--out", str(tmp_path / "cut"), "--resume", "--no-progress"],
                             capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for name in ("last.pt", "best.pt"):
        a, b = (load_checkpoint(tmp_path / run / name) for run in ("full", "cut"))
        assert a["epoch"] == b["epoch"] == 2 or name == "best.pt"
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), (name, k)
    assert json.loads((tmp_path / "full" / "metrics.json").read_text()) == \
        json.loads((tmp_path / "cut" / "metrics.json").read_text())


def test_cli_demo_with_a_tiny_override(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--epochs", "1", "--n-train", "32", "--n-eval", "24",
                 "--size", "32", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| metric | seg-only | mtl | mtl + gating |" in out and "Seg_Recall" in out
    assert "epoch 1/1, loss" in out  # one line per epoch without progress bars
    assert (tmp_path / "comparison.md").is_file() and (tmp_path / "mtl" / "metrics.json").is_file()


def test_cli_train_evaluate_predict(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(run), "--model", "seg-only", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "sample head: AP" in out and "mask       : missed" in out and "kept epoch 1 of 1" in out
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert f"recall {test['recall_at_fpr_1pct']:.3f} / {test['recall_at_fpr_5pct']:.3f} at 1% / 5% false alarms" in out
    assert test["recall_at_fpr_1pct"] <= test["recall_at_fpr_2pct"] <= test["recall_at_fpr_5pct"]
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--split", "val", "--no-progress",
                 "--min-area", "5"]) == 0
    out = capsys.readouterr().out
    assert "min_area threshold 5 instead of the model's" in out and "(defective when >= 5 px" in out
    assert json.loads((run / "metrics_synthetic_val.json").read_text())["test"]["n_samples"] == 24
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--channels", "3", "--no-progress"]) == 2
    assert "takes 1-channel images" in capsys.readouterr().err
    write_gray(tmp_path / "x.png", np.zeros((45, 70)))
    assert main(["predict", "--checkpoint", str(run / "best.pt"), str(tmp_path / "x.png"),
                 "--out", str(tmp_path / "p")]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--decoder", "fpn", "--no-progress"]) == 2
    assert "decoder: checkpoint 'unet' vs now 'fpn'" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--lr", "0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "lr: checkpoint 0.002 vs now 0.5" in err
    assert json.loads((run / "config.json").read_text())["lr"] == 0.002  # nothing was rewritten
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--augment", "strong", "--no-progress"]) == 2
    assert "augment: checkpoint 'light' vs now 'strong'" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--weight-decay", "0.05",
                 "--no-progress"]) == 2
    assert "weight_decay: checkpoint 0.0001 vs now 0.05" in capsys.readouterr().err


def test_out_folder_is_never_silently_replaced(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(run)]) == 0
    best = (run / "best.pt").read_bytes()
    assert main(["train", *SMALL, "--epochs", "1", "--seed", "1", "--out", str(run)]) == 2
    assert "holds an earlier run" in capsys.readouterr().err and (run / "best.pt").read_bytes() == best
    assert main(["train", *SMALL, "--epochs", "1", "--seed", "1", "--out", str(run), "--overwrite"]) == 0
    assert (run / "best.pt").read_bytes() != best
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["train", *SMALL, "--epochs", "1", "--out", str(mine), "--overwrite"]) == 2
    assert "notes.txt" in capsys.readouterr().err and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_ddp_two_cpu_processes(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "samtl_lite.cli", "train", "--n-train", "40", "--n-eval", "22", "--size", "32", "--epochs", "2",
           "--batch-size", "8", "--out", str(tmp_path / "ddp"), "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # --threads divides the cores itself
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
    # configs written before augmentations had names said true/false
    assert TrainConfig.from_dict({"augment": True}).augment == "light"
    assert TrainConfig.from_dict({"augment": False}).augment == "none"
    assert TrainConfig.from_dict({"augment": True}) == TrainConfig()


def test_visible_and_faint_defects_are_graded_apart():
    pred = Predictions(np.arange(4), np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.1, 0.6, 0.5, 0.9]),
                       meta={"visibility": [0.0, 0.0, 3.0, 20.0]})
    m = compute_metrics(pred, 0.55)
    assert (m["n_visible"], m["n_faint"]) == (1, 1)
    assert m["ap_visible"] == 1.0 and m["ap_faint"] == 0.5  # the faint one ranks below a clean sample
    assert (m["recall_visible"], m["recall_faint"]) == (1.0, 0.0)
    bins = {(b["lo"], b["hi"]): (b["n"], b["detected"]) for b in m["recall_by_visibility"]["sample"]}
    assert bins[(0.0, 5.0)] == (1, 0) and bins[(20.0, 40.0)] == (1, 1) and sum(n for n, _ in bins.values()) == 2
    from samtl_lite.data.synthetic import VISIBLE

    ds = SyntheticDefects(n=60, size=64, seed=1, defect_rate=0.5)
    metas = [ds.render(i)[2] for i in range(60)]
    for meta, y in zip(metas, ds.labels):
        assert (meta["visibility"] > 0) == bool(y) and VISIBLE == 5.0
    assert any(0 < m["visibility"] < VISIBLE for m in metas) and any(m["visibility"] >= VISIBLE for m in metas)


def test_nan_loss_before_any_checkpoint_says_so_and_names_the_options(tmp_path):
    train, val = tiny_data(n=16)
    config = TrainConfig(**{**TINY, "epochs": 1}, pos_weight=float("inf"), w_seg=2.0)
    with pytest.raises(TrainingDiverged) as err:
        fit(build_from_config(config), train, val, config, tmp_path, progress=False)
    assert str(err.value) == f"loss became nan at epoch 1, batch 1; no epoch finished, so {tmp_path} holds no " \
        "checkpoint. Lower the learning rate (now 0.003) or check the loss options (pos_weight inf, w_seg 2) and " \
        "the data for NaN pixels."
    assert list(tmp_path.iterdir()) == []
    config = TrainConfig(**{**TINY, "epochs": 1, "lr": float("inf")})
    with pytest.raises(TrainingDiverged) as err:
        fit(build_from_config(config), train, val, config, progress=False)
    assert str(err.value).endswith(" Lower the learning rate (now inf) or check the loss options and the data for "
                                   "NaN pixels.") and "checkpoint" not in str(err.value)


def test_scores_that_blow_up_under_a_finite_loss_are_a_clean_error(tmp_path, capsys):
    from samtl_lite.cli import main

    argv = ["train", "--lr", "1e6", "--epochs", "1", "--size", "32", "--n-train", "64", "--n-eval", "32",
            "--no-progress", "--threads", "1", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert capsys.readouterr().err == "samtl: error: the model's sample scores on the validation split became NaN or " \
        "inf: its weights have blown up. Lower the learning rate (now 1e+06) and train again.\n"


def test_a_loss_that_cannot_train_is_refused_when_training_starts_not_when_a_model_loads():
    from samtl_lite.engine.loop import trainable_loss
    from samtl_lite.errors import DataError

    old = TrainConfig(model="seg-only", w_cls=0.5)  # earlier versions trained such configs and ignored the weight
    assert TrainConfig.from_dict(old.to_dict()) == old  # so their checkpoints still load
    with pytest.raises(DataError, match="the seg-only model has no sample head, so its w_cls must be 0, not 0.5"):
        trainable_loss(old)
    with pytest.raises(DataError, match="w_seg 0 and w_cls 0, so nothing would be trained: give --w-seg"):
        trainable_loss(TrainConfig(model="seg-only", loss_schedule="dynamic", w_seg=0))  # no schedule for one term
    assert trainable_loss(TrainConfig(loss_schedule="dynamic")).weights() == (1.0, 0.0)  # mtl: it starts mask first


def test_loading_a_model_does_not_import_the_training_loop():
    """Prediction, the explorer and the pretrained models load models through `samtl_lite.engine.modelio`: importing
    them (and the package) leaves the training loop and whole runs unimported, while the package's names still
    reach them on first use."""
    code = ("import sys, samtl_lite, samtl_lite.engine.predict, samtl_lite.explorer, samtl_lite.pretrained\n"
            "import samtl_lite.engine.modelio as modelio\n"
            "from samtl_lite.engine import build_from_config, load_model\n"
            "assert load_model is modelio.load_model and build_from_config is modelio.build_from_config\n"
            "print(sorted(m for m in sys.modules if m in ('samtl_lite.engine.loop', 'samtl_lite.engine.run')))\n"
            "from samtl_lite.engine import fit, splits_of\n"
            "import samtl_lite.engine.loop as loop, samtl_lite.engine.run as run\n"
            "assert fit is loop.fit and splits_of is run.splits_of\n"
            "print(sorted(m for m in sys.modules if m in ('samtl_lite.engine.loop', 'samtl_lite.engine.run')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "['samtl_lite.engine.loop', 'samtl_lite.engine.run']"]


@pytest.mark.parametrize(("encoder", "stride"), [("lraspp_mobilenet_v3_large", 16), ("resnet18", 32), ("tiny", 16)])
def test_fit_shape_to_data_uses_the_encoders_stride_without_building_the_model(tmp_path, monkeypatch, encoder,
                                                                                stride):
    """Parts 40 wide and 110 tall at 160 x 160 pixels: the shape keeps their proportions, each side a multiple of the
    encoder's stride (16 for the tiny encoder and the torchvision segmentation models, 32 for the backbones)."""
    from samtl_lite.engine.recipes import shaped_size
    from samtl_lite.engine.run import fit_shape_to_data

    for i in range(12):
        write_gray(tmp_path / "images" / f"{i:02d}.png", np.full((110, 40), 90 + i, dtype=np.uint8))
        mask = np.zeros((110, 40), dtype=np.uint8)
        mask[50:60, 5:15] = 255 * (i % 2)
        write_gray(tmp_path / "masks" / f"{i:02d}.png", mask)
    monkeypatch.setattr("samtl_lite.models.net.build_encoder", lambda *a, **k: pytest.fail("a model was built"))
    monkeypatch.setattr("samtl_lite.models.net.SegModelWithHead", lambda *a, **k: pytest.fail("a model was built"))
    config = TrainConfig(data="folder", images=str(tmp_path / "images"), masks=str(tmp_path / "masks"), size=160,
                         encoder=encoder)
    shaped, median = fit_shape_to_data(config)
    assert median == (40, 110)
    assert shaped.size == shaped_size((40, 110), 160 * 160, stride)
    # by hand: height sqrt(25600 * 110 / 40) = 265.3 rounds to 17 x 16 = 272 or 8 x 32 = 256; width 25600 / height
    # = 94.1 or 100 rounds to 6 x 16 = 96 or 3 x 32 = 96
    assert shaped.size == ([272, 96] if stride == 16 else [256, 96])


def test_training_never_hands_batchnorm_a_batch_of_one():
    """At 16x16 the tiny encoder pools each image to 1x1, where BatchNorm cannot train on one image (PyTorch raises
    "Expected more than 1 value per channel"). 9 images in batches of 8 would end each epoch on a batch of one: it
    is left out (a different image each epoch); every other epoch keeps the batches it had."""
    config = TrainConfig(epochs=2, batch_size=8, lr=3e-3, balanced=False)

    def batches(n, balanced=False, epochs=4):
        loader = loop.TrainLoader(SyntheticDefects(n=n, size=16, seed=0), replace(config, balanced=balanced),
                                  loop.Distributed(), torch.device("cpu"))
        return [[len(b) for b in loader.epoch(e).batch_sampler] for e in range(epochs)]

    for balanced in (False, True):
        assert batches(9, balanced) == [[8]] * 4  # 8 + 1: the one is left out
        assert batches(10, balanced) == [[8, 2]] * 4  # a short epoch keeps a last batch of two
        assert batches(16, balanced) == [[8, 8]] * 4  # a multiple of the batch size: as before
        assert batches(17, balanced) == batches(18, balanced) == [[8, 8]] * 4  # two batches or more: drop the rest
        assert batches(4, balanced) == [[4]] * 4  # fewer images than a batch: one batch of all
    loader = loop.TrainLoader(SyntheticDefects(n=9, size=16, seed=0), config, loop.Distributed(), torch.device("cpu"))
    left_out = {(set(range(9)) - set(next(iter(loader.epoch(e).batch_sampler)))).pop() for e in range(6)}
    assert len(left_out) > 1  # the shuffle decides which image waits, so none is never trained on
    train, val = SyntheticDefects(n=9, size=16, seed=0, defect_rate=0.5), SyntheticDefects(n=8, size=16, seed=99)
    history = fit(build_from_config(config), train, val, config, progress=False)
    assert [h["epoch"] for h in history] == [1, 2] and all(np.isfinite(h["loss"]) for h in history)


def test_a_batch_size_or_a_training_split_under_two_is_refused_with_the_fix():
    cpu, one = torch.device("cpu"), loop.Distributed()
    with pytest.raises(DataError, match=r"batch_size is 1, but training needs at least 2 images a batch.*"
                       r"Pass --batch-size 2 or more"):
        loop.TrainLoader(SyntheticDefects(n=8, size=16, seed=0), TrainConfig(batch_size=1), one, cpu)
    with pytest.raises(DataError, match=r"the training split has 1 image\(s\) \(1 per process\), but training needs "
                       r"at least 2 a batch.*Add training images"):
        loop.TrainLoader(SyntheticDefects(n=1, size=16, seed=0), TrainConfig(batch_size=8, balanced=False), one,
                         cpu).epoch(0)
