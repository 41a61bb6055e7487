"""A model and its config: building one from a config, loading a checkpoint's, checking a checkpoint fits a recipe.

Taught in 06_training. A checkpoint carries its config (`TrainConfig.to_dict`), so the model it holds can be rebuilt
without the training loop: prediction, the explorer and the pretrained models import this module, not
`samtl_lite.engine.loop`. Checkpoints are written by `save_checkpoint` (`samtl_lite.engine.checkpoint`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from samtl_lite.engine.checkpoint import load_checkpoint
from samtl_lite.engine.config import RESUMABLE_KEYS, TrainConfig
from samtl_lite.errors import CheckpointError
from samtl_lite.models import build_model


def build_from_config(config: TrainConfig) -> nn.Module:
    """The model a config describes (taught in 06_training)."""
    return build_model(config.model, config.encoder, config.decoder, config.in_channels,
                       normalize=config.normalize, lighting_pad=config.lighting_pad,
                       detach_input=config.detach_input, use_mask=config.use_mask)


RESUME_FIX = "Resume with the run's own settings (they are in its config.json), or train into a new run folder."


def check_compatible(state: dict[str, Any], config: TrainConfig, path: Path, fix: str = RESUME_FIX) -> None:
    """Refuse to resume with a recipe the checkpoint cannot honour, naming every field that differs
    (taught in 06_training).

    Only `RESUMABLE_KEYS` may change, and `epochs` only upwards: anything else (the model, the data,
    the learning rate, the seed...) would make the run's record describe a run that never happened."""
    saved = TrainConfig.from_dict(state["config"]).to_dict()
    now = config.to_dict()
    diff = {k: (saved[k], now[k]) for k in now if k not in RESUMABLE_KEYS and saved.get(k) != now[k]}
    if diff:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"{path} was trained with different settings ({detail}). {fix}")
    if config.epochs < state["epoch"] + 1:
        raise CheckpointError(f"{path} has already trained {state['epoch'] + 1} epochs, more than --epochs "
                              f"{config.epochs}. Ask for at least as many epochs, or evaluate the run as it is.")


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, TrainConfig, dict]:
    """Rebuild the model of a checkpoint and load its weights (taught in 06_training)."""
    state = load_checkpoint(path)
    try:
        config = TrainConfig.from_dict(state["config"])
        model = build_from_config(config)
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{path}: its weights and config do not describe a model this version can build "
                              f"({err.__class__.__name__}: {str(err).splitlines()[0][:200]}). Use a checkpoint written "
                              "by samtl train, or retrain.") from None
    return model.to(device).eval(), config, state
