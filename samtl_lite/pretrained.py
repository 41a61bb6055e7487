"""Trained models on hand: small checkpoints made by the package's own recipes, loaded by name.

Taught in 08_explore. A notebook in fast mode should explore a model that works, in seconds,
rather than one trained for a minute that catches nothing. Each model here was trained by a command
of this package (recorded beside it in `index.json`, with the validation metrics it gave), and holds
only what using it needs: the weights, the recipe and the thresholds chosen on validation.
`tests/test_pretrained.py` retrains none of them; it checks that each loads and reproduces its
recorded validation metrics.

    python -m samtl_lite.pretrained runs/demo/mtl/best.pt my-mtl "samtl demo"   # add or replace one

The three on hand come from `samtl experiment --recipe cpu`, seed 0, on the 2-core CPU with 2 threads:
synthetic-mtl and synthetic-seg-only (recipe synthetic-cpu) and mt-mtl (Magnetic Tile, recipe mt-cpu).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from torch import nn

from samtl_lite.engine.checkpoint import save_checkpoint
from samtl_lite.engine.config import TrainConfig
from samtl_lite.engine.evaluate import metrics_at, predict_dataset
from samtl_lite.engine.modelio import load_model
from samtl_lite.errors import CheckpointError

FOLDER = Path(__file__).parent / "pretrained"
RECORDED = ("ap", "f1", "fn", "fp", "seg_f1", "seg_fn", "seg_fp", "seg_miou")


def index() -> dict[str, dict[str, Any]]:
    """Name -> {command, recipe, val metrics} of every model on hand (taught in 08_explore)."""
    path = FOLDER / "index.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def load_pretrained(name: str, device: str = "cpu") -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """(model, config, checkpoint state) of a model on hand, e.g. `load_pretrained("synthetic-mtl")`
    (taught in 08_explore)."""
    if name not in index():
        raise CheckpointError(f"no model on hand called {name!r}; choose from {', '.join(index()) or 'none'}.")
    return load_model(FOLDER / f"{name}.pt", device)


def validation_metrics(model: nn.Module, config: TrainConfig, thresholds: dict[str, Any]) -> dict[str, float]:
    """The recorded numbers of a model on its own validation split, at its own thresholds (taught in 08_explore)."""
    from samtl_lite.engine.run import splits_of

    _, val, _ = splits_of(config, augment=False)
    pred = predict_dataset(model, val, max(config.batch_size, 32), progress=False)
    m = metrics_at(pred, thresholds)
    return {k: m[k] for k in RECORDED if k in m}


def export(checkpoint: str | Path, name: str, command: str) -> dict[str, Any]:
    """Keep a run's `best.pt` as a model on hand: weights, recipe and thresholds only, with the
    command that trained it and its validation metrics in `index.json` (taught in 08_explore)."""
    model, config, state = load_model(checkpoint)
    if not state.get("thresholds"):
        raise CheckpointError(f"{checkpoint} carries no thresholds: evaluate its run before keeping it.")
    FOLDER.mkdir(exist_ok=True)
    save_checkpoint(FOLDER / f"{name}.pt", {k: state[k] for k in ("model", "config", "thresholds", "epoch")})
    entry = {"command": command, "recipe": {k: v for k, v in config.to_dict().items() if v is not None},
             "epoch_kept": state["epoch"] + 1, "thresholds": state["thresholds"],
             "val": validation_metrics(model, config, state["thresholds"])}
    (FOLDER / "index.json").write_text(json.dumps({**index(), name: entry}, indent=1) + "\n")
    return entry


if __name__ == "__main__":
    print(json.dumps(export(*sys.argv[1:4]), indent=1))
