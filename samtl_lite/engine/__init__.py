"""Training, evaluation, reports and prediction (taught in 06_training).

The training loop (`samtl_lite.engine.loop`) and whole runs (`samtl_lite.engine.run`) are imported on first use of
one of their names, so loading a model to predict or explore does not import the training machinery.
"""

from importlib import import_module
from typing import Any

from samtl_lite.engine.checkpoint import load_checkpoint, save_checkpoint
from samtl_lite.engine.config import TrainConfig, pick_device
from samtl_lite.engine.evaluate import (
    Predictions,
    choose_mask_decision,
    choose_thresholds,
    compute_metrics,
    metrics_at,
    per_sample_rows,
    predict_dataset,
)
from samtl_lite.engine.modelio import build_from_config, load_model
from samtl_lite.engine.predict import predict_images
from samtl_lite.engine.recipes import RECIPES, recipe, recipe_for

# name -> the module that defines it, imported when the name is first asked for
_LAZY = {
    **dict.fromkeys(("fit", "loss_from_config", "seed_everything"), "samtl_lite.engine.loop"),
    **dict.fromkeys(("evaluate_checkpoint", "evaluate_model", "splits_of", "train_and_evaluate"),
                    "samtl_lite.engine.run"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "RECIPES",
    "Predictions",
    "TrainConfig",
    "build_from_config",
    "choose_mask_decision",
    "choose_thresholds",
    "compute_metrics",
    "evaluate_checkpoint",
    "evaluate_model",
    "fit",
    "load_checkpoint",
    "load_model",
    "loss_from_config",
    "metrics_at",
    "per_sample_rows",
    "pick_device",
    "predict_dataset",
    "predict_images",
    "recipe",
    "recipe_for",
    "save_checkpoint",
    "seed_everything",
    "splits_of",
    "train_and_evaluate",
]
