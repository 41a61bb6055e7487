"""Recall of defects that touch the image's border against those inside it, per run.

    SAMTL_DATA_DIR=../shared/data python bench/recall_by_border.py runs/exp/magnetic-tile/mtl/seed*

For each run folder (one `samtl train` or `samtl experiment` cell), the run's own test split is read as its
`config.json` says, and each defective sample is put in `border` when some pixel of its true mask lies within
`--margin` (a share of the shorter side, default 2%) of the image's edge, else in `inner`. Printed per group: how
many defective samples, and the share the sample head and the mask decided defective (`results.csv`, at the
thresholds chosen on validation). A border defect is cut off by the image and is read through the network's padding,
so a model may see it worse than the same defect inside.
"""

from __future__ import annotations

import argparse
import csv
import json
import warnings
from pathlib import Path

import torch

from samtl_lite.engine import TrainConfig, splits_of


def border_distance(mask: torch.Tensor) -> float:
    """The true mask's closest pixel to the image's edge, as a share of the shorter side (inf when empty)."""
    ys, xs = torch.nonzero(mask.reshape(mask.shape[-2:]) > 0, as_tuple=True)
    if len(ys) == 0:
        return float("inf")
    h, w = mask.shape[-2:]
    gap = min(int(ys.min()), int(xs.min()), h - 1 - int(ys.max()), w - 1 - int(xs.max()))
    return gap / min(h, w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding config.json and results.csv")
    parser.add_argument("--margin", type=float, default=0.02, help="share of the shorter side (default: 0.02)")
    args = parser.parse_args()
    for run in args.runs:
        config = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the dataset's own notes were printed when the run trained
            test = splits_of(config, augment=False)[2]
        groups: dict[str, list[tuple[int, int]]] = {"border": [], "inner": []}
        with open(run / "results.csv") as f:
            for row in csv.DictReader(f):
                if row["label"] == "1":
                    near = border_distance(test[int(row["index"])]["mask"]) <= args.margin
                    groups["border" if near else "inner"].append((int(row["decision"]), int(row["mask_decision"])))
        cells = [f"{g} {len(v)}: head {sum(a for a, _ in v) / len(v):.3f}, mask {sum(b for _, b in v) / len(v):.3f}"
                 for g, v in groups.items() if v]
        print(f"{run}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
