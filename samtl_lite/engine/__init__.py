"""Training, evaluation, reports and prediction (taught in 06_training)."""

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
from samtl_lite.engine.loop import build_from_config, fit, load_model, loss_from_config, seed_everything
from samtl_lite.engine.predict import predict_images
from samtl_lite.engine.recipes import RECIPES, recipe, recipe_for
from samtl_lite.engine.run import evaluate_checkpoint, evaluate_model, splits_of, train_and_evaluate

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
