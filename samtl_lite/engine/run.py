"""A whole run, as `samtl train` and `samtl evaluate` do it: splits, training, thresholds, report.

Taught in 06_training. Thresholds are chosen on the validation split (max-F1 for the sample
score, max pixel-F1 for the mask) and applied unchanged to the test split; the test split is never
used to choose anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from samtl_lite.data.catalog import get_splits
from samtl_lite.engine.config import TrainConfig, pick_device
from samtl_lite.engine.evaluate import Predictions, choose_thresholds, compute_metrics, predict_dataset
from samtl_lite.engine.loop import Distributed, build_from_config, fit, load_model
from samtl_lite.engine.report import write_json, write_report
from samtl_lite.errors import MetricError


def thresholds_on(val: Predictions) -> dict[str, float]:
    """`choose_thresholds`, falling back to 0.5 with a note when validation has no defective sample."""
    try:
        return choose_thresholds(val)
    except MetricError as err:
        print(f"note: {err} Using 0.5.")
        return {"score": 0.5, "mask": 0.5} if val.stats else {"score": 0.5}


def evaluate_model(model: Any, val: Dataset, test: Dataset, out: Path | None, device: Any = "cpu",
                   history: list[dict] | None = None, progress: bool = True, batch_size: int = 32,
                   tag: str = "") -> dict[str, Any]:
    """Choose thresholds on `val`, evaluate `test` with and without mask gating, write the report."""
    val_pred = predict_dataset(model, val, batch_size, device, progress=progress)
    chosen = thresholds_on(val_pred)
    test_pred = predict_dataset(model, test, batch_size, device, progress=progress)
    mask_t = chosen.get("mask", 0.5)
    result = {
        "thresholds": chosen,
        "val": compute_metrics(val_pred, chosen["score"], mask_t),
        "test": compute_metrics(test_pred, chosen["score"], mask_t),
    }
    if test_pred.stats and model.cls_head is not None:
        result["test_gated"] = compute_metrics(test_pred, chosen["score"], mask_t, gate=True)
    if out is not None:
        write_report(out, model, test, test_pred, result["test"], chosen, history, device, tag=tag)
        write_json(out / f"metrics{tag}.json", result)
    return result


def train_and_evaluate(config: TrainConfig, data: str, out: str | Path, size: int | None = None,
                       images: str | None = None, masks: str | None = None, resume: bool = False,
                       progress: bool = True, n_train: int | None = None, n_eval: int | None = None) -> dict:
    """Train on `data`'s train split, keep the best epoch by validation, evaluate on test (taught in 06_training)."""
    out = Path(out)
    train, val, test = get_splits(data, size, augment=config.augment, images=images, masks=masks,
                                  seed=config.seed, n_train=n_train, n_eval=n_eval)
    model = build_from_config(config)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {**config.to_dict(), "data": data, "size": size})
    history = fit(model, train, val, config, out, resume=resume, progress=progress)
    if not Distributed.from_env().main:
        return {}
    device = pick_device(config.device)
    best, _, _ = load_model(out / "best.pt", device)
    return evaluate_model(best, val, test, out, device, history, progress, max(config.batch_size, 32))


def evaluate_checkpoint(checkpoint: str | Path, data: str, split: str = "test", out: str | Path | None = None,
                        size: int | None = None, images: str | None = None, masks: str | None = None,
                        device: str = "auto", progress: bool = True) -> dict:
    """Evaluate a saved model on a split of `data`, thresholds from its validation split (taught in 06_training)."""
    dev = pick_device(device)
    model, config, state = load_model(checkpoint, dev)
    _, val, test = get_splits(data, size, augment=False, images=images, masks=masks, seed=config.seed)
    target = {"val": val, "test": test}[split]
    out = Path(out) if out is not None else Path(checkpoint).parent
    return evaluate_model(model, val, target, out, dev, state.get("history"), progress, tag=f"_{data}_{split}")
