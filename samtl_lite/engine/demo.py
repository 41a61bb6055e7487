"""`samtl demo`, the main job: pixel-centric vs sample-centric training on the synthetic benchmark.

Taught in 07_experiment. Trains the seg-only baseline and the MTL model with the same encoder, data
and budget, evaluates both on the held-out synthetic test split with thresholds chosen on validation,
and prints the comparison. On a CPU it uses the tiny encoder at 128² (a few minutes on 2 cores); on a
GPU a ResNet-18 U-Net at 256² with more data and epochs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from samtl_lite.engine.config import TrainConfig
from samtl_lite.engine.report import comparison_table
from samtl_lite.engine.run import train_and_evaluate

RECIPES = {
    "cpu": {"encoder": "tiny", "size": 128, "epochs": 6, "batch_size": 16, "n_train": 2000, "n_eval": 500},
    "gpu": {"encoder": "resnet18", "size": 256, "epochs": 30, "batch_size": 32, "n_train": 2000, "n_eval": 1000},
}


def run_demo(out: str | Path = "runs/demo", recipe: str | None = None, progress: bool = True,
             **overrides: Any) -> dict[str, Any]:
    """Train and evaluate "seg-only" and "mtl"; return their test metrics and the printed table
    (taught in 07_experiment). `overrides` replace recipe entries (epochs, n_train, n_eval, size, encoder)."""
    recipe = recipe or ("gpu" if torch.cuda.is_available() else "cpu")
    r = {**RECIPES[recipe], **{k: v for k, v in overrides.items() if v is not None}}
    out = Path(out)
    results, seconds = {}, {}
    for variant in ("seg-only", "mtl"):
        print(f"training {variant} ({r['encoder']} encoder, {r['size']}², {r['epochs']} epochs, "
              f"{r['n_train']} training images)")
        start = time.perf_counter()
        config = TrainConfig(model=variant, encoder=r["encoder"], epochs=r["epochs"], batch_size=r["batch_size"])
        result = train_and_evaluate(config, "synthetic", out / variant, size=r["size"], progress=progress,
                                    n_train=r["n_train"], n_eval=r["n_eval"])
        seconds[variant] = time.perf_counter() - start
        results[variant] = result["test"]
        if "test_gated" in result:
            results[f"{variant} + gating"] = result["test_gated"]
    table = comparison_table(results)
    footer = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    text = f"Synthetic test split ({r['n_eval']} samples, {r['size']}²), thresholds chosen on validation:\n\n" \
           f"{table}\n\nwall time: {footer} (recipe: {recipe})"
    (out / "comparison.md").write_text(text + "\n")
    return {"results": results, "table": text, "seconds": seconds, "recipe": r}
