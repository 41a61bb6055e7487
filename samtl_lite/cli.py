"""The `samtl` command line: `samtl demo` and `samtl data ...`.

Taught in 01_defect_data (data commands). Each sub-command is a thin layer over library calls a
notebook also makes, so what the terminal does and what the lessons teach stay the same thing.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from samtl_lite.data.catalog import DATASETS, get_dataset
from samtl_lite.data.stats import dataset_summary, format_summary
from samtl_lite.data.synthetic import SyntheticDefects, synthetic_benchmark
from samtl_lite.errors import SamtlError


def _cmd_demo(args: argparse.Namespace) -> None:
    """Generate the synthetic benchmark, summarise each split, and save a gallery."""
    import matplotlib

    matplotlib.use("Agg")
    from samtl_lite.viz import synthetic_gallery

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for split in ("train", "val", "test"):
        ds = synthetic_benchmark(split, size=args.size)
        summaries[split] = dataset_summary(ds)
        print(format_summary(f"synthetic/{split} ({args.size}²)", summaries[split]))
    (out / "summary.json").write_text(json.dumps(summaries, indent=2, default=str))
    synthetic_gallery(size=args.size).savefig(out / "gallery.png", dpi=90)
    print(f"\nwrote {out / 'summary.json'} and {out / 'gallery.png'}")
    print("Next: open notebooks/01_defect_data.ipynb in JupyterLab (see README).")


def _cmd_synth(args: argparse.Namespace) -> None:
    """Write a synthetic set as files: images/, masks/ (0/255 PNG) and meta.csv."""
    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    ds = SyntheticDefects(n=args.n, size=args.size, seed=args.seed, defect_rate=args.defect_rate)
    with open(out / "meta.csv", "w", newline="") as f:
        writer = None
        for i in tqdm(range(len(ds)), desc="writing"):
            image, mask, meta = ds.render(i)
            name = f"{i:06d}.png"
            Image.fromarray(np.round(image[0] * 255).astype(np.uint8)).save(out / "images" / name)
            Image.fromarray(mask.astype(np.uint8) * 255).save(out / "masks" / name)
            row = {"file": name, "label": int(mask.any()), **meta}
            if writer is None:
                writer = csv.DictWriter(f, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
    print(f"wrote {len(ds)} samples to {out}/images, {out}/masks and {out}/meta.csv")
    print(f"read them back with: samtl_lite.data.ImageMaskFolder('{out}/images', '{out}/masks')")


def _cmd_bench(args: argparse.Namespace) -> None:
    """Print how many synthetic images per second one process draws."""
    for size in args.sizes:
        ds = SyntheticDefects(n=args.n, size=size, seed=0)
        ds[0]  # warm-up
        start = time.perf_counter()
        for i in range(args.n):
            ds[i]
        rate = args.n / (time.perf_counter() - start)
        print(f"synthetic {size}x{size}: {rate:,.0f} images/s (one process, {args.n} images)")


def _cmd_info(args: argparse.Namespace) -> None:
    """Summarise any dataset: counts, defect sizes, defect-pixel fraction."""
    ds = get_dataset(args.data, split=args.split, images=args.images, masks=args.masks)
    print(format_summary(f"{args.data}/{args.split}", dataset_summary(ds)))


def build_parser() -> argparse.ArgumentParser:
    """The `samtl` argument parser; `samtl --help` prints it (taught in 01_defect_data)."""
    parser = argparse.ArgumentParser(
        prog="samtl",
        description="samtl_lite: sample-centric multi-task learning for surface-defect inspection.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job on built-in synthetic data (no download)")
    demo.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    demo.add_argument("--size", type=int, default=128, help="image side in pixels (default: 128)")
    demo.set_defaults(func=_cmd_demo)

    data = sub.add_parser("data", help="synthetic data and real datasets").add_subparsers(dest="action", required=True)
    synth = data.add_parser("synth", help="write a synthetic set to disk as image/mask files")
    synth.add_argument("--out", required=True, help="output folder (images/, masks/, meta.csv)")
    synth.add_argument("--n", type=int, default=100, help="number of samples (default: 100)")
    synth.add_argument("--size", type=int, default=128, help="image side in pixels (default: 128)")
    synth.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    synth.add_argument("--defect-rate", type=float, default=0.25, help="share of defective samples (default: 0.25)")
    synth.set_defaults(func=_cmd_synth)

    bench = data.add_parser("bench", help="print synthetic images/s")
    bench.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="image sides (default: 128 256)")
    bench.add_argument("--n", type=int, default=500, help="images per size (default: 500)")
    bench.set_defaults(func=_cmd_bench)

    info = data.add_parser("info", help="summarise a dataset (counts, defect sizes)")
    info.add_argument("data", choices=DATASETS, help="dataset name; real ones are looked for in $SAMTL_DATA_DIR")
    info.add_argument("--split", default="train", help="split (default: train; Magnetic Tile also: test, all)")
    info.add_argument("--images", help="images folder, for `folder`")
    info.add_argument("--masks", help="masks folder, for `folder`")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `samtl` console script; returns the exit code (taught in 01_defect_data)."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SamtlError as err:
        print(f"samtl: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
