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

from samtl_lite.engine.recipes import default_demo_recipe, recipe
from samtl_lite.engine.report import comparison_table
from samtl_lite.engine.run import train_and_evaluate


def run_demo(out: str | Path = "runs/demo", recipe_name: str | None = None, progress: bool = True,
             **overrides: Any) -> dict[str, Any]:
    """Train and evaluate "seg-only" and "mtl" with one named recipe (`demo`, or `demo-gpu` on CUDA);
    return their test metrics and the printed table (taught in 07_experiment). `overrides` replace
    recipe fields (epochs, n_train, n_eval, size, encoder, normalize, seed, threads)."""
    name = recipe_name or default_demo_recipe()
    out = Path(out)
    results, seconds = {}, {}
    for variant in ("seg-only", "mtl"):
        config = recipe(name, model=variant, **overrides)
        print(f"training {variant} ({config.encoder} encoder, {config.resolved_size()}², {config.epochs} epochs, "
              f"{config.n_train} training images, seed {config.seed})")
        start = time.perf_counter()
        result = train_and_evaluate(config, out / variant, progress=progress, overwrite=True)
        seconds[variant] = time.perf_counter() - start
        results[variant] = result["test"]
        if "test_gated" in result:
            results[f"{variant} + gating"] = result["test_gated"]
    table = comparison_table(results)
    footer = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    text = f"Synthetic test split ({config.n_eval} samples, {config.resolved_size()}²), thresholds chosen on " \
           f"validation:\n\n{table}\n\nwall time: {footer} (recipe: {name})"
    (out / "comparison.md").write_text(text + "\n")
    return {"results": results, "table": text, "seconds": seconds, "recipe": name}
