"""A model and its config: building one from a config, loading a checkpoint's, checking a checkpoint fits a recipe.

Taught in 06_training. A checkpoint carries its config (`TrainConfig.to_dict`), so the model it holds can be rebuilt
without the training loop: prediction, the explorer and the pretrained models import this module, not
`samtl_lite.engine.loop`. Checkpoints are written by `save_checkpoint` (`samtl_lite.engine.checkpoint`).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samtl_lite.data.io import RESIZE_MODES
from samtl_lite.engine.checkpoint import load_checkpoint
from samtl_lite.engine.config import RESUMABLE_KEYS, TrainConfig
from samtl_lite.errors import CheckpointError
from samtl_lite.models import build_model


def build_from_config(config: TrainConfig) -> nn.Module:
    """The model a config describes (taught in 06_training)."""
    return build_model(config.model, config.encoder, config.decoder, config.in_channels,
                       normalize=config.normalize, lighting_pad=config.lighting_pad,
                       detach_input=config.detach_input, use_mask=config.use_mask)


CHECKPOINT_FIX = "Use a checkpoint written by samtl train, or retrain."


def _unbuildable(path: str | Path, err: Exception) -> CheckpointError:
    """The error for a checkpoint whose config or weights fail to make a model, with the first line of why."""
    return CheckpointError(f"{path}: its weights and config do not describe a model this version can build "
                           f"({err.__class__.__name__}: {str(err).splitlines()[0][:200]}). {CHECKPOINT_FIX}")


def _whole(value: Any, low: int) -> bool:
    """An integer (not a bool) of at least `low`."""
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= low


def _field_problem(key: str, value: Any) -> str | None:
    """What is wrong with one field of a checkpoint's config, or None when it can be used."""
    if key == "size":
        if value is None or _whole(value, 1):
            return None
        pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(_whole(v, 1) for v in value)
        return None if pair else "not a positive whole number of pixels, [H, W] of two, or None"
    if key == "in_channels":
        return None if _whole(value, 1) and value in (1, 3) else "not 1 (gray) or 3 (colour)"
    if key == "resize":
        return None if value in RESIZE_MODES else f"not one of {', '.join(RESIZE_MODES)}"
    if key in ("model", "encoder", "decoder", "normalize", "lighting_pad", "data"):
        return None if isinstance(value, str) else "not a name (text)"
    if key in ("detach_input", "use_mask"):
        return None if isinstance(value, bool) else "not true or false"
    return None


def _threshold_problem(key: str, value: Any) -> str | None:
    """What is wrong with one of a checkpoint's thresholds (score, mask, min_area; others, such as the rule that
    chose them, are notes), or None when it can be used."""
    if key not in ("score", "mask", "min_area"):
        return None
    if key == "min_area":
        return None if _whole(value, 0) else "not a whole number of pixels, 0 or more"
    if not isinstance(value, Real) or isinstance(value, bool) or math.isnan(value):
        return "not a number"
    if key == "mask" and not 0 <= value <= 1:
        return "not a probability in [0, 1]"
    return None


def _checked_config(state: dict[str, Any], path: str | Path) -> TrainConfig:
    """The config a checkpoint carries, once the fields that build the model, prepare its images and decide
    (size, in_channels, resize, the model's parts, thresholds, epoch) have the types and ranges they need.

    A field of the wrong type would otherwise be used as it is: a size "64" read as a side of a few pixels,
    an in_channels "x" ending in an internal error. Refused with a `CheckpointError` naming the checkpoint,
    the field and the fix; a config that is not a mapping at all is refused too."""
    config = state.get("config")
    if isinstance(config, dict):
        for key, value in config.items():
            problem = _field_problem(key, value)
            if problem:
                raise CheckpointError(f"{path}: its config's {key} is {value!r}, {problem}, so the model and the way "
                                      f"it reads images cannot be rebuilt from it. {CHECKPOINT_FIX}")
    thresholds = state.get("thresholds")
    if thresholds is not None and not isinstance(thresholds, dict):
        raise CheckpointError(f"{path}: its thresholds are {thresholds!r}, not a mapping of score, mask and "
                              f"min_area. {CHECKPOINT_FIX}")
    for key, value in (thresholds or {}).items():
        problem = _threshold_problem(key, value)
        if problem:
            raise CheckpointError(f"{path}: its {key} threshold is {value!r}, {problem}. {CHECKPOINT_FIX}")
    if "epoch" in state and not _whole(state["epoch"], 0):
        raise CheckpointError(f"{path}: its epoch is {state['epoch']!r}, not a whole number 0 or more. "
                              f"{CHECKPOINT_FIX}")
    try:
        return TrainConfig.from_dict(config)  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError) as err:
        raise _unbuildable(path, err) from None


def _check_finite_weights(model: nn.Module, path: str | Path) -> None:
    """Refuse weights holding NaN or inf: every output of such a model is NaN, and a NaN score is called clean."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{path}: its weights hold NaN or inf ({bad} of {tensor.numel()} values of {name}): "
                                  "the run that wrote it had blown up, and every output would be NaN. Use an earlier "
                                  "checkpoint of the run (best.pt), or train again with a lower learning rate.")


RESUME_FIX = "Resume with the run's own settings (they are in its config.json), or train into a new run folder."


def check_compatible(state: dict[str, Any], config: TrainConfig, path: Path, fix: str = RESUME_FIX) -> None:
    """Refuse to resume with a recipe the checkpoint cannot honour, naming every field that differs
    (taught in 06_training).

    Only `RESUMABLE_KEYS` may change, and `epochs` only upwards: anything else (the model, the data,
    the learning rate, the seed...) would make the run's record describe a run that never happened."""
    saved = _checked_config(state, path).to_dict()
    now = config.to_dict()
    diff = {k: (saved[k], now[k]) for k in now if k not in RESUMABLE_KEYS and saved.get(k) != now[k]}
    if diff:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"{path} was trained with different settings ({detail}). {fix}")
    if config.epochs < state["epoch"] + 1:
        raise CheckpointError(f"{path} has already trained {state['epoch'] + 1} epochs, more than --epochs "
                              f"{config.epochs}. Ask for at least as many epochs, or evaluate the run as it is.")


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, TrainConfig, dict]:
    """Rebuild the model of a checkpoint and load its weights (taught in 06_training).

    Its config is checked first (`_checked_config`), and weights holding NaN or inf are refused: either would
    otherwise give results that look like answers (a NaN score is called clean)."""
    state = load_checkpoint(path)
    config = _checked_config(state, path)
    try:
        model = build_from_config(config)
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as err:
        raise _unbuildable(path, err) from None
    _check_finite_weights(model, path)
    return model.to(device).eval(), config, state
