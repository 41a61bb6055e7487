"""The experiment: pixel-centric vs sample-centric training, several seeds, mean ± std.

Taught in 07_experiment. Every cell (dataset x variant) is trained with the same encoder, input size,
epochs and augmentation, for each seed; thresholds are chosen on validation and applied to test.
Variants: `seg-only` (mask loss only; sample score = the mask's largest probability), `mtl` (0.5/0.5
joint loss), `mtl + gating` (the mtl model, masks erased where the head says clean; no extra
training) and `mtl-detached` (the head's gradient stopped at the encoder: does the *gradient*
matter, or only the extra head?). Finished runs are skipped, so an interrupted experiment resumes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from samtl_lite.engine.config import TrainConfig
from samtl_lite.engine.loop import check_compatible
from samtl_lite.engine.recipes import EXPERIMENTS
from samtl_lite.engine.recipes import recipe as named_recipe
from samtl_lite.engine.report import write_json
from samtl_lite.engine.run import train_and_evaluate
from samtl_lite.errors import DataError
from samtl_lite.viz import figure_title, plot_recall_by

TRAINED = {"seg-only": {"model": "seg-only"}, "mtl": {"model": "mtl"},
           "mtl-detached": {"model": "mtl", "detach_input": True}}
METRICS = ("ap", "ap_visible", "auroc", "recall_at_fpr_1pct", "recall_at_fpr_5pct", "fn", "fp", "recall_visible",
           "recall_faint", "seg_fn", "seg_fp", "seg_recall", "seg_accuracy", "seg_miou", "pixel_miou")


def run_cell(dataset: str, variant: str, seed: int, base: TrainConfig, out: Path,
             progress: bool = True) -> dict[str, Any]:
    """Train and evaluate one variant with one seed, or read the result of a finished run of the same recipe.

    A finished run with fewer epochs is resumed to the new total; one with any other difference is an
    error, so that a table never mixes runs of different recipes (taught in 07_experiment)."""
    folder = out / dataset / variant / f"seed{seed}"
    done = folder / "metrics.json"
    config = TrainConfig.from_dict({**base.to_dict(), **TRAINED[variant], "seed": seed})
    if done.is_file():
        saved = TrainConfig.from_dict(json.loads((folder / "config.json").read_text()))
        check_compatible({"config": saved.to_dict(), "epoch": saved.epochs - 1}, config, folder / "config.json",
                         "Give the experiment another --out folder, or the options its runs were trained with.")
        if saved.epochs == config.epochs:
            return json.loads(done.read_text())
    start = time.perf_counter()
    result = train_and_evaluate(config, folder, resume=(folder / "last.pt").is_file(), progress=progress)
    result["seconds"] = time.perf_counter() - start
    write_json(done, result)
    return json.loads(done.read_text())


# how each binned recall is labelled, and the factor its bin edges are printed with
BIN_LABELS = {"recall_by_area": ("defect area (% of image)", 100.0),
              "recall_by_contrast": ("defect contrast (background noise stds)", 1.0),
              "recall_by_visibility": ("visibility (contrast × √pixels; faint below 5)", 1.0)}


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Mean and std over seeds of each metric, and the mean recall per defect-area bin, per variant
    (taught in 07_experiment)."""
    table: dict[str, dict[str, Any]] = {}
    for variant, results in runs.items():
        row: dict[str, Any] = {"seeds": len(results)}
        for m in METRICS:
            values = np.array([r.get(m) if r.get(m) is not None else np.nan for r in results], dtype=float)
            finite = values[~np.isnan(values)]
            row[m] = {"mean": float(finite.mean()) if finite.size else float("nan"),
                      "std": float(finite.std()) if finite.size else float("nan"), "values": values.tolist()}
        for key in BIN_LABELS:
            bins = [r[key]["sample"] for r in results if key in r]
            if bins:
                row[key] = [
                    {"lo": b["lo"], "hi": b["hi"], "n": b["n"],
                     "recall": float(np.mean([run[i]["recall"] for run in bins])) if b["n"] else float("nan")}
                    for i, b in enumerate(bins[0])
                ]
        table[variant] = row
    return table


def markdown_table(summary: dict[str, dict[str, Any]]) -> str:
    """One row per metric, one column per variant: mean ± std over seeds (taught in 07_experiment)."""
    names = list(summary)
    most = max(summary[n].get("seeds", 0) for n in names)
    def head(n: str) -> str:  # a variant trained on fewer seeds than the others says so
        k = summary[n].get("seeds", most)
        return n if k == most else f"{n} ({k} seed{'s' * (k != 1)})"

    heads = [head(n) for n in names]
    lines = ["| metric | " + " | ".join(heads) + " |", "|---|" + "---|" * len(names)]

    def stat(n: str, m: str) -> dict[str, float]:  # None (NaN in JSON) and metrics an older record lacks: nan
        v = summary[n].get(m) or {}
        return {k: float("nan") if v.get(k) is None else v[k] for k in ("mean", "std")}

    for m in METRICS:
        if all(np.isnan(stat(n, m)["mean"]) for n in names):
            continue  # not measured on this dataset (e.g. visibility on real data), or by an older version
        integer = m in ("fn", "fp", "seg_fn", "seg_fp")
        cells = []
        for n in names:
            v = stat(n, m)
            cells.append("–" if np.isnan(v["mean"]) else
                         (f"{v['mean']:.1f} ± {v['std']:.1f}" if integer else f"{v['mean']:.3f} ± {v['std']:.3f}"))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bins_table(summary: dict[str, dict[str, Any]], key: str = "recall_by_area") -> str:
    """Recall per bin of one of `BIN_LABELS` (defect area by default), one column per variant
    (taught in 07_experiment)."""
    names = [n for n in summary if key in summary[n]]
    if not names:
        return ""
    label, scale = BIN_LABELS[key]
    lines = [f"| {label} | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for i, b in enumerate(summary[names[0]][key]):
        if b["n"]:
            cells = [f"{summary[n][key][i]['recall']:.2f}" for n in names]
            lines.append(f"| {scale * b['lo']:.3g}–{scale * b['hi']:.3g} | {b['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_experiment(recipe: str = "cpu", out: str | Path = "runs/exp", seeds: tuple[int, ...] = (0, 1, 2),
                   datasets: tuple[str, ...] = ("synthetic", "magnetic-tile"), progress: bool = True,
                   ablation_seeds: int | None = None, **overrides: Any) -> dict[str, Any]:
    """Run the whole protocol and write `results.json`, `results.md` and recall-by-size plots
    (taught in 07_experiment). `overrides` change every dataset's recipe (e.g. epochs=1 for a smoke test);
    `ablation_seeds` trains the mtl-detached ablation on the first that many seeds only (default: all).
    A seed given twice is a DataError: its run would count twice in the mean and shrink the std."""
    repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if repeated:
        once = list(dict.fromkeys(seeds))
        raise DataError(f"seeds {list(seeds)} give {', '.join(map(str, repeated))} more than once, and a run given "
                        "twice would count as two seeds in the mean ± std. Give each seed once: --seeds "
                        f"{' '.join(map(str, once))} (seeds={tuple(once)} in Python).")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"recipe": recipe, "seeds": list(seeds), "datasets": {}}
    sections = []
    start = time.perf_counter()
    for dataset in datasets:
        base = named_recipe(EXPERIMENTS[recipe][dataset], **overrides)
        runs: dict[str, list[dict[str, Any]]] = {"seg-only": [], "mtl": [], "mtl + gating": [], "mtl-detached": []}
        seconds = []
        for i, seed in enumerate(seeds):
            for variant in TRAINED:
                if variant == "mtl-detached" and ablation_seeds is not None and i >= ablation_seeds:
                    continue
                result = run_cell(dataset, variant, seed, base, out, progress)
                seconds.append(result.get("seconds", 0.0))
                runs[variant].append(result["test"])
                if variant == "mtl":
                    runs["mtl + gating"].append(result["test_gated"])
        summary = summarize(runs)
        shown = ("encoder", "normalize", "lighting_pad", "size", "epochs", "batch_size", "n_train", "n_eval")
        r = {"name": EXPERIMENTS[recipe][dataset], **{k: v for k, v in base.to_dict().items() if k in shown}}
        report["datasets"][dataset] = {"recipe": r, "summary": summary, "train_seconds": float(np.sum(seconds))}
        fig, ax = plt.subplots(figsize=(12, 3.8), layout="constrained")  # 4 bars and their values per bin
        plot_recall_by({v: s["recall_by_area"] for v, s in summary.items() if "recall_by_area" in s}, ax=ax,
                       legend_title="variant")
        fewer = [f"{v} on {s['seeds']}" for v, s in summary.items() if s["seeds"] != len(seeds)]
        figure_title(fig, f"{dataset}, test split; recipe {r['name']} (experiment '{recipe}'); {len(seeds)} seeds"
                          f"{' (' + ', '.join(fewer) + ')' if fewer else ''}\nbars: sample-decision recall (share "
                          "of defective test samples scored at or above the threshold chosen on validation) by "
                          "defect size, mean over seeds")
        fig.savefig(out / f"recall_by_area_{dataset}.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        tables = [f"Sample-decision recall by {BIN_LABELS[k][0].split(' (')[0]} (mean over seeds):\n\n{t}\n"
                  for k in BIN_LABELS if (t := bins_table(summary, k))]
        sections.append(f"### {dataset}\n\nrecipe: {r}\n\n{markdown_table(summary)}\n\n" + "\n".join(tables))
    report["wall_seconds"] = time.perf_counter() - start
    write_json(out / "results.json", report)
    (out / "results.md").write_text("\n".join(sections))
    return report


def paired_differences(summary: dict[str, dict[str, Any]], a: str, b: str, metric: str) -> np.ndarray:
    """Per-seed `a - b` of one metric in `summarize`'s table, seed by seed (taught in 07_experiment)."""
    va = np.asarray(summary[a][metric]["values"], dtype=float)
    vb = np.asarray(summary[b][metric]["values"], dtype=float)
    if va.shape != vb.shape:
        raise ValueError(f"{metric}: {a} has {va.size} seeds and {b} {vb.size}; only the same seeds pair up.")
    return va - vb


def bootstrap_interval(values: Any, n_boot: int = 10_000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`, resampled by a seeded numpy Generator (taught in
    07_experiment)."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"bootstrap_interval needs finite values, got {x.tolist()}.")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}.")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
