"""Checkpoints that survive a crash and refuse to run code.

Taught in 06_training. Saving writes a temporary file next to the target and renames it: a process
killed mid-save leaves the previous checkpoint intact. Loading uses `torch.load(weights_only=True)`,
which unpickles tensors and plain containers only, so a crafted file cannot execute anything.
"""

from __future__ import annotations

import os
import pickle
import random
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samtl_lite.errors import CheckpointError


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) generator states, as weights-only-safe values (taught in 06_training)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the global state others use)
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved (taught in 06_training)."""
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically: temp file in the same folder, fsync, rename (taught in 06_training)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a checkpoint is an ordinary file
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files a save killed mid-write left in `folder`; return them (taught in 06_training)."""
    stale = sorted(Path(folder).glob(".*.pt.*.tmp")) if Path(folder).is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; a truncated, corrupt or code-carrying file gives a CheckpointError
    naming it (taught in 06_training)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a run folder, not a checkpoint: give {path / 'best.pt'} (the kept epoch) "
                              "or last.pt.")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint. Check the path (runs/NAME/best.pt or last.pt).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"(?i)unsupported global:? (?:GLOBAL )?(\S+)", str(err))  # torch names the object it refused
        raise CheckpointError(
            f"{path}: refused to load: the file holds Python objects other than tensors and plain data"
            f"{f' ({found.group(1)})' if found else ''}, which could run code. Only load checkpoints written by "
            "samtl_lite."
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, IndexError, KeyError) as err:
        raise CheckpointError(
            f"{path}: cannot read this checkpoint ({err.__class__.__name__}: {(str(err) or 'empty').splitlines()[0]}). "
            "It is truncated or corrupt; use the other checkpoint of the run (last.pt / best.pt) or retrain."
        ) from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path}: not a samtl_lite checkpoint (no model weights and config inside).")
    return state
