"""The `samtl` command line: `demo`, `train`, `evaluate`, `predict` and `data ...`.

Taught in 06_training; `samtl data info` appears in 09_real_data. Each sub-command is a thin
layer over library calls a notebook also makes, so what the terminal does and what the lessons
teach stay the same thing.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from samtl_lite.data.catalog import DATASETS, get_dataset
from samtl_lite.data.stats import dataset_summary, format_summary
from samtl_lite.data.synthetic import SyntheticDefects
from samtl_lite.data.transforms import AUGMENTATIONS
from samtl_lite.errors import DataError, SamtlError
from samtl_lite.losses import SCHEDULES, SEG_LOSSES
from samtl_lite.models import ENCODERS, NORMALIZE, PADS, SEG_MODELS, VARIANTS


def _cmd_demo(args: argparse.Namespace) -> None:
    """Train seg-only and MTL on the synthetic benchmark and print the comparison."""
    from samtl_lite.engine.demo import run_demo
    from samtl_lite.viz import synthetic_gallery

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    synthetic_gallery(size=args.size or 128).savefig(out / "gallery.png", dpi=90)
    demo = run_demo(out, args.recipe, progress=not args.no_progress, epochs=args.epochs, n_train=args.n_train,
                    n_eval=args.n_eval, size=args.size, encoder=args.encoder, normalize=args.normalize, seed=args.seed,
                    threads=args.threads)
    print("\n" + demo["table"])
    print(f"\nreports: {out}/seg-only/ and {out}/mtl/ (metrics.json, results.csv, pr_curve.png, misses/, ...)")
    print("Next: open notebooks/01_defect_data.ipynb in JupyterLab (see README).")


# the method's options that `samtl train` and `samtl experiment` both offer (TrainConfig fields)
METHOD_FIELDS = ("normalize", "lighting_pad", "lr", "weight_decay", "augment", "pos_weight", "loss_schedule",
                 "distance_weighting", "use_mask", "ema")
# CLI option -> TrainConfig field, for every option `samtl train` passes on when it is given
TRAIN_FIELDS = ("data", "images", "masks", "mask_suffix", "missing_mask", "mask_threshold", "group", "split_csv",
                "split_seed", "size", "resize", "in_channels", "n_train", "n_eval", "model", "encoder", "decoder",
                "detach_input", "seg_loss", "w_seg", "w_cls", "epochs", "batch_size", "balanced", "compile", "device",
                "num_workers", "threads", "seed", "max_fpr", "monitor") + METHOD_FIELDS


def _train_config(args: argparse.Namespace):
    """The run's TrainConfig: the named recipe (or, with --resume, the run's own), then the options given."""
    from samtl_lite.data.catalog import native_channels
    from samtl_lite.engine import RECIPES, TrainConfig, load_checkpoint, recipe
    from samtl_lite.engine.recipes import default_recipe
    from samtl_lite.engine.run import prepare_out

    given = {k: getattr(args, k) for k in TRAIN_FIELDS if getattr(args, k) is not None}
    if args.resume:
        prepare_out(Path(args.out), resume=True, overwrite=False)  # a run with no finished epoch: say so
        base = load_checkpoint(Path(args.out) / "last.pt")["config"]
        return TrainConfig.from_dict({**base, **given})
    name = args.recipe or default_recipe(given.get("data", TrainConfig.data), given.get("device", TrainConfig.device))
    if name and not args.recipe and os.environ.get("RANK", "0") == "0":
        print(f"recipe: {name}, the default for {given['data']} data (--recipe NAME chooses another)")
    config = recipe(name, **given) if name else TrainConfig(**given)
    if "in_channels" not in given and "in_channels" not in RECIPES.get(name, {}):
        config.in_channels = native_channels(config.data, config.images)  # the data's own channels
    return config


def _cmd_train(args: argparse.Namespace) -> None:
    """Train, keep the best epoch by validation, evaluate on test, write the run folder."""
    from samtl_lite.engine import train_and_evaluate
    from samtl_lite.engine.recipes import SHAPED, default_recipe
    from samtl_lite.engine.run import fit_shape_to_data

    config = _train_config(args)
    _synthetic_only(args, (config.data,), "samtl train")
    name = args.recipe or default_recipe(config.data, config.device)
    if name in SHAPED and args.size is None and not args.resume:
        config, median = fit_shape_to_data(config)
        if median and os.environ.get("RANK", "0") == "0":
            print(f"size: {config.size[0]} {config.size[1]} (H W), {name}'s pixels in the shape of the data's median "
                  f"image, {median[0]}x{median[1]} (width x height); --size H W chooses another")
    result = train_and_evaluate(config, args.out, resume=args.resume, progress=not args.no_progress,
                                overwrite=args.overwrite)
    if result:
        print(_summary(result))
        print(f"run folder: {args.out}")


def _synthetic_only(args: argparse.Namespace, datasets: tuple[str, ...], command: str) -> None:
    """Refuse --n-train/--n-eval when no dataset is synthetic: real data have fixed splits, so the options would be
    ignored and the run would train on all of the data, not the few images asked for."""
    given = [f"--{k.replace('_', '-')} {v}" for k in ("n_train", "n_eval") if (v := getattr(args, k)) is not None]
    if given and "synthetic" not in datasets:
        raise DataError(f"{', '.join(given)}: synthetic data only, and {command} here reads {', '.join(datasets)}, "
                        "whose splits are fixed by the dataset, so the run would use all of them. Drop "
                        f"{'it' if len(given) == 1 else 'them'}; nothing was written.")


def _summary(result: dict) -> str:
    """The test split's decisions, the head's and the mask's, in a few lines."""
    t, th = result["test"], result["thresholds"]
    lines = [f"test split, {t['n_samples']} samples ({t['n_defective']} defective); thresholds chosen on validation "
             f"({th.get('rule', 'given')}):",
             f"  sample head: AP {t['ap']:.3f}, recall {t['recall_at_fpr_1pct']:.3f} / {t['recall_at_fpr_5pct']:.3f} "
             f"at 1% / 5% false alarms; missed {t['fn']}, false alarms {t['fp']} at score >= {th['score']:.3f}"]
    if "seg_recall" in t:
        lines.append(f"  mask       : missed {t['seg_fn']}, false alarms {t['seg_fp']} (defective when >= "
                     f"{th['min_area']} px at probability >= {th['mask']:.2f}); Seg_Recall {t['seg_recall']:.3f}, "
                     f"Seg_Accuracy {t['seg_accuracy']:.3f}, Seg_mIoU {t['seg_miou']:.3f}, "
                     f"pooled mIoU {t['pixel_miou']:.3f}")
    if "recall_by_visibility" in t:
        bins = t["recall_by_visibility"]["sample"]
        seen = ", ".join(f"{b['lo']:g}-{b['hi']:g}: {b['detected']}/{b['n']}" for b in bins if b["n"])
        lines.append(f"  sample head, defective samples caught by visibility (contrast x sqrt(pixels)): {seen}")
    if "test_gated" in result:
        g = result["test_gated"]
        lines.append(f"  mask, gated by the head: missed {g['seg_fn']}, false alarms {g['seg_fp']}; "
                     f"Seg_Accuracy {g['seg_accuracy']:.3f}, Seg_mIoU {g['seg_miou']:.3f}")
    return "\n".join(lines)


def _threshold_overrides(args: argparse.Namespace) -> dict:
    return {"score": args.score_threshold, "mask": args.mask_threshold, "min_area": args.min_area}


def _cmd_evaluate(args: argparse.Namespace) -> None:
    """Evaluate a checkpoint on a split, as the model was trained to read data and decide."""
    from samtl_lite.engine import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.out, args.images, args.masks,
                                 args.device or "auto", progress=not args.no_progress, rechoose=args.rechoose,
                                 overrides={"size": args.size, "resize": args.resize, "in_channels": args.in_channels,
                                            "mask_suffix": args.mask_suffix, "missing_mask": args.missing_mask,
                                            **_threshold_overrides(args)})
    print(_summary(result))


def _cmd_experiment(args: argparse.Namespace) -> None:
    """The whole pixel- vs sample-centric protocol; results.md/json and plots in OUT."""
    from samtl_lite.engine.experiment import run_experiment

    _synthetic_only(args, tuple(args.datasets), "samtl experiment")
    report = run_experiment(args.recipe, args.out, tuple(args.seeds), tuple(args.datasets),
                            progress=not args.no_progress, ablation_seeds=args.ablation_seeds, epochs=args.epochs,
                            size=args.size, n_train=args.n_train,
                            n_eval=args.n_eval, threads=args.threads,
                            **{k: getattr(args, k) for k in METHOD_FIELDS})
    print((Path(args.out) / "results.md").read_text())
    print(f"wall time {report['wall_seconds'] / 60:.1f} min; results in {args.out}/results.md and results.json")


def _cmd_predict(args: argparse.Namespace) -> None:
    """Masks, overlays and a CSV of decisions for images of any size."""
    from samtl_lite.engine import pick_device, predict_images

    device = pick_device(args.device) if args.device not in (None, "auto") else "cpu"  # one image at a time
    csv_path = predict_images(args.checkpoint, args.inputs, args.out, _threshold_overrides(args), device,
                              args.overwrite)
    print(f"wrote {csv_path} and a mask and overlay per image in {args.out}")


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
    if args.data == "folder" and args.split:
        raise DataError(f"--split {args.split}: a folder has no splits of its own, so `samtl data info folder` "
                        "summarises every image in it. Leave --split out.")
    split = args.split or "train"
    given = {k: v for k in ("mask_suffix", "missing_mask", "mask_threshold") if (v := getattr(args, k)) is not None}
    if given and args.data != "folder":
        raise DataError(f"{', '.join('--' + k.replace('_', '-') for k in given)}: for `samtl data info folder` only; "
                        f"{args.data} has a layout of its own. Drop {'it' if len(given) == 1 else 'them'}.")
    ds = get_dataset(args.data, split=split, images=args.images, masks=args.masks, **given)
    print(format_summary(args.images if args.data == "folder" else f"{args.data}/{split}", dataset_summary(ds)))


class Parser(argparse.ArgumentParser):
    """argparse with the package's error format: `samtl: error: ...`, exit code 2 (taught in 06_training)."""

    def error(self, message: str) -> NoReturn:
        """One line, not argparse's whole usage block first: the error, and where the options are listed."""
        self.exit(2, f"samtl: error: {self.prog}: {message} (`{self.prog} --help` lists the options)\n")


def at_least(low: float, kind: type = int) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` that is at least `low` (taught in 06_training)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not value >= low or value != value:
            raise argparse.ArgumentTypeError(f"{text} is below the smallest sensible value, {low}")
        if value == float("inf"):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        return value

    return parse


SEED_LIMIT = 2**32  # numpy's global generator (np.random.seed), which training seeds, takes seeds in [0, 2**32)


def _seed(text: str) -> int:
    """An argparse type: a seed in [0, 2**32), the range every generator training seeds accepts."""
    value = at_least(0)(text)
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{text} is too large: seeds must lie in [0, 2**32), 0 to {SEED_LIMIT - 1}. "
                                         "Pick a smaller seed")
    return value


SIDE_LIMIT = 4096  # one 4096 x 4096 float image is 64 MiB, and a batch's activations many times that
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
THREAD_LIMIT = min(4 * CORES, 256)  # threads beyond the cores only wait on each other (OpenMP spins), so a run crawls
THREADS_HELP = f"; at most {THREAD_LIMIT}, 4 x the cores up to 256, as threads beyond the cores only slow the run)"
DEVICES = "auto, cpu, cuda, cuda:N (N = 0, 1, ...) or mps"


def _side(text: str) -> int:
    """An argparse type: an image side in pixels, 8 to SIDE_LIMIT."""
    value = at_least(8)(text)
    if value > SIDE_LIMIT:
        raise argparse.ArgumentTypeError(f"{text} pixels is more than the largest side samtl trains or draws, "
                                         f"{SIDE_LIMIT} (larger images do not fit in memory); give at most "
                                         f"{SIDE_LIMIT}")
    return value


def _threads(text: str) -> int:
    """An argparse type: torch CPU threads, 1 to THREAD_LIMIT."""
    value = at_least(1)(text)
    if value > THREAD_LIMIT:
        raise argparse.ArgumentTypeError(f"{text} threads is more than {THREAD_LIMIT} (4 x this machine's {CORES} "
                                         "cores, at most 256): threads beyond the cores only wait on each other and "
                                         f"slow the run. Give at most {THREAD_LIMIT}, or leave --threads out")
    return value


def _device(text: str) -> str:
    """An argparse type: a device name that torch knows and samtl runs on; whether this machine has it is
    checked when the run starts (pick_device)."""
    kind, _, index = text.partition(":")
    if text in ("auto", "cpu", "cuda", "mps") or (kind == "cuda" and index.isdigit() and index.isascii()):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a device name: use {DEVICES}")


class Size(argparse.Action):
    """`--size N` or `--size H W`: one side, or two; the option's value is N or [H, W] (taught in 06_training)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if len(values) > 2:
            parser.error(f"argument {option_string}: give one side (N) or two (H W), not {len(values)} values")
        setattr(namespace, self.dest, values[0] if len(values) == 1 else list(values))


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1) (taught in 06_training)."""
    value = at_least(0.0, float)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text} must lie in [0, 1)")
    return value


def _data_options(p: argparse.ArgumentParser, default_help: str) -> None:
    p.add_argument("--data", choices=DATASETS, help=f"dataset ({default_help}); real ones are read from "
                   "$SAMTL_DATA_DIR")
    p.add_argument("--images", help="images folder, for --data folder")
    p.add_argument("--masks", help="masks folder, for --data folder")
    p.add_argument("--size", type=_side, nargs="+", action=Size, metavar="N",
                   help=f"input side, or H W, at most {SIDE_LIMIT} (default: 128 synthetic, 256 real)")
    p.add_argument("--resize", choices=("stretch", "pad"), help="stretch to the size (default), or keep the "
                   "aspect ratio and zero-pad")
    p.add_argument("--channels", dest="in_channels", type=int, choices=(1, 3),
                   help="input channels (default: the data's own: 3 for colour data, else 1)")
    p.add_argument("--device", type=_device, help="auto (CUDA, MPS, CPU; the default), cpu, cuda, cuda:N or mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bars: one line per epoch instead")


def _threshold_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--score-threshold", type=at_least(0.0, float), help="default: the model's, chosen on validation")
    p.add_argument("--mask-threshold", type=fraction, help="default: the model's, chosen on validation")
    p.add_argument("--min-area", type=at_least(1),
                   help="mask pixels that make a sample defective (default: the model's)")


def _flag(p: argparse.ArgumentParser, name: str, dest: str, value: bool, help: str) -> None:
    """An on/off option that is None unless given, so that it overrides a recipe only when used."""
    p.add_argument(name, dest=dest, action="store_const", const=value, help=help)


class _OldSpelling(argparse.Action):
    """An option's former name: stores the value as the new one does and warns once that it is renamed."""

    def __init__(self, *args: Any, new: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warnings.warn(f"{option_string} is now {self.new} (in evaluate and predict, --mask-threshold is the "
                      f"probability that makes a mask pixel defect); the old spelling will go", FutureWarning,
                      stacklevel=2)
        setattr(namespace, self.dest, values)


def _mask_file_options(p: argparse.ArgumentParser, threshold: bool = True) -> None:
    """How mask files are read; `evaluate` leaves out --mask-level, the grey level that binarises mask files."""
    p.add_argument("--mask-suffix", help="--data folder: mask of images/x.png is masks/x<SUFFIX>.<ext>; images and "
                   "masks may share a folder when the suffix tells them apart (e.g. _GT)")
    p.add_argument("--missing-mask", choices=("error", "empty"), help="--data folder: an image without a mask "
                   "is an error (default) or defect-free")
    if threshold:
        level = at_least(1e-12, float)
        p.add_argument("--mask-level", dest="mask_threshold", type=level, help="mask files: a pixel is defect where "
                       "its value is at least this grey level, e.g. 128 for anti-aliased masks (default: any "
                       "non-zero value)")
        p.add_argument("--mask-threshold", dest="mask_threshold", type=level, action=_OldSpelling,
                       new="--mask-level", help=argparse.SUPPRESS)


def _method_options(p: argparse.ArgumentParser) -> None:
    """How the model reads images and how the mask head and the joint loss are trained: each option overrides
    the recipe when given."""
    p.add_argument("--normalize", choices=tuple(NORMALIZE), help="what the network reads: per-image (each image "
                   "standardised) or flatten (that, and the image with its lighting subtracted, as the CPU "
                   "recipes do; default: the recipe's)")
    p.add_argument("--lighting-pad", choices=tuple(PADS), help="with flatten: how the lighting estimate pads the "
                   "border, mirror (keeps a lighting gradient straight) or reflect (keeps a defect that touches the "
                   "border; mt-cpu's); default: the recipe's, else mirror")
    p.add_argument("--lr", type=at_least(1e-12, float), help="AdamW peak learning rate (default: 2e-3)")
    p.add_argument("--weight-decay", type=at_least(0.0, float), help="AdamW weight decay (default: 1e-4)")
    p.add_argument("--augment", choices=AUGMENTATIONS, help="training augmentation: light (flips and "
                   "brightness/contrast; the default), strong (also crops, tone curves, noise and blur, which "
                   "per-image standardisation does not undo) or none")
    p.add_argument("--pos-weight", type=at_least(1e-12, float),
                   help="weight of defect pixels in the mask's BCE (default: 1)")
    p.add_argument("--loss-schedule", choices=SCHEDULES, help="mtl's balance of the two terms: constant 0.5/0.5 "
                   "(default), dynamic (mask first, then the sample term) or learned by uncertainty weighting")
    _flag(p, "--distance-weighting", "distance_weighting", True,
          "defect pixels weigh by their distance to the defect's edge")
    _flag(p, "--use-mask", "use_mask", True, "the sample head also pools the mask logits")
    p.add_argument("--ema", type=fraction, metavar="DECAY", help="keep and evaluate a moving average of the weights "
                   "with this decay per step, e.g. 0.99; 0 turns it off (default: the recipe's, else off)")


def build_parser() -> argparse.ArgumentParser:
    """The `samtl` argument parser; `samtl --help` prints it (taught in 06_training)."""
    from samtl_lite.engine.recipes import EXPERIMENTS, RECIPES

    runnable = tuple(d for d in DATASETS if all(d in datasets for datasets in EXPERIMENTS.values()))  # experiment's

    parser = Parser(
        prog="samtl",
        description="samtl_lite: sample-centric multi-task learning for surface-defect inspection.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected failure")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job: seg-only vs MTL on built-in synthetic data (no download)")
    demo.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    demo.add_argument("--recipe", choices=tuple(RECIPES), help="default: demo-gpu when CUDA is available, else demo")
    demo.add_argument("--epochs", type=at_least(1), help="override the recipe's epochs")
    demo.add_argument("--n-train", type=at_least(2), help="override the number of training images")
    demo.add_argument("--n-eval", type=at_least(2), help="override the validation and test sizes")
    demo.add_argument("--size", type=_side, help=f"override the image side (at most {SIDE_LIMIT})")
    demo.add_argument("--encoder", choices=ENCODERS + SEG_MODELS, metavar="NAME",
                      help=f"override the encoder: {', '.join(ENCODERS + SEG_MODELS)}")
    demo.add_argument("--normalize", choices=tuple(NORMALIZE), help="override what the network reads (per-image or "
                      "flatten; see samtl train --help)")
    demo.add_argument("--seed", type=_seed, help="training seed (default: 0)")
    demo.add_argument("--threads", type=_threads, help="torch CPU threads (default: this machine's cores"
                      + THREADS_HELP)
    demo.add_argument("--no-progress", action="store_true", help="no progress bars: one line per epoch instead")
    demo.set_defaults(func=_cmd_demo)

    train = sub.add_parser("train", help="train a model and evaluate it (writes a run folder)",
                           description="Options left out come from --recipe (or, with --resume, from the run's "
                           "own config). Without --recipe, real data get their default recipe (mt-cpu for Magnetic "
                           "Tile, real-cpu for the others; -gpu on a GPU) and synthetic data the defaults shown.")
    train.add_argument("--recipe", choices=tuple(RECIPES), help="a named recipe (samtl_lite.engine.recipes); "
                       "options given override it")
    _data_options(train, "default: synthetic")
    _mask_file_options(train)
    train.add_argument("--group", help="--data folder: regex on the file name that names the physical part; all "
                       "images of a part stay in one split")
    train.add_argument("--split-csv", help="--data folder: CSV with columns file,split (train/val/test)")
    train.add_argument("--split-seed", type=_seed, help="seed of the train/val/test split (default: 0)")
    train.add_argument("--model", choices=VARIANTS, help="variant (default: mtl)")
    train.add_argument("--encoder", choices=ENCODERS + SEG_MODELS, metavar="NAME",
                       help=f"one of {', '.join(ENCODERS + SEG_MODELS)} (default: tiny)")
    train.add_argument("--decoder", choices=("unet", "fpn"), help="default: unet")
    train.add_argument("--epochs", type=at_least(1), help="default: 10")
    train.add_argument("--batch-size", type=at_least(1), help="default: 16")
    train.add_argument("--seed", type=_seed, help="default: 0; weights, sampling, augmentation and dropout "
                       "derive from it, and a CPU run is exactly reproducible")
    train.add_argument("--seg-loss", choices=SEG_LOSSES, help="default: bce+dice")
    train.add_argument("--w-seg", type=at_least(0.0, float), help="weight of the mask loss (default: the variant's)")
    train.add_argument("--w-cls", type=at_least(0.0, float), help="weight of the sample loss (default: the variant's)")
    _method_options(train)
    _flag(train, "--detach-input", "detach_input", True, "ablation: no head gradient into the encoder")
    _flag(train, "--no-balanced", "balanced", False, "plain shuffling instead of half-defective batches")
    _flag(train, "--no-augment", "augment", "none", "no augmentation (the same as --augment none)")
    _flag(train, "--compile", "compile", True, "torch.compile the model (pays on GPU, not on CPU)")
    train.add_argument("--workers", dest="num_workers", type=at_least(0), help="DataLoader workers (default: 0 on CPU, "
                       "up to 8 on CUDA)")
    train.add_argument("--threads", type=_threads, help="torch CPU threads (default: this machine's cores, divided "
                       "among torchrun's processes" + THREADS_HELP)
    train.add_argument("--max-fpr", type=fraction, help="choose thresholds for at most this share of false alarms on "
                       "validation (default: best F1)")
    train.add_argument("--monitor", choices=("joint", "ap", "loss"), help="what picks best.pt (default: joint, "
                       "the mean of val AP, mask-decision F1 and Seg_mIoU)")
    train.add_argument("--out", required=True, help="run folder, e.g. runs/NAME")
    train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt with the run's settings")
    train.add_argument("--overwrite", action="store_true", help="replace an earlier run in OUT")
    train.add_argument("--n-train", type=at_least(2), help="synthetic only: number of training images (default 2000)")
    train.add_argument("--n-eval", type=at_least(2), help="synthetic only: validation and test sizes")
    train.set_defaults(func=_cmd_train)

    evaluate = sub.add_parser("evaluate", help="evaluate a checkpoint on a dataset split, with its own recipe "
                              "and thresholds")
    evaluate.add_argument("--checkpoint", required=True, help="e.g. runs/NAME/best.pt")
    _data_options(evaluate, "default: the model's training data")
    _mask_file_options(evaluate, threshold=False)
    _threshold_options(evaluate)
    evaluate.add_argument("--rechoose", action="store_true", help="choose the thresholds again on this data's "
                          "validation split")
    evaluate.add_argument("--split", default="test", choices=("val", "test"), help="default: test")
    evaluate.add_argument("--out", help="report folder (default: the checkpoint's folder)")
    evaluate.set_defaults(func=_cmd_evaluate)

    exp = sub.add_parser("experiment", help="seg-only vs mtl vs gating vs detached head, several seeds")
    exp.add_argument("--recipe", default="cpu", choices=("cpu", "gpu"), help="cpu: tiny encoder (about two and a "
                     "half hours on 2 cores); gpu: ResNet-18 U-Net, larger input, more epochs")
    exp.add_argument("--out", default="runs/exp", help="output folder; finished runs in it are reused")
    exp.add_argument("--seeds", type=_seed, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    exp.add_argument("--datasets", nargs="+", default=list(runnable), choices=runnable,
                     help=f"the datasets the protocol has recipes for: {', '.join(runnable)} (default: "
                     "both); other data are trained with samtl train")
    exp.add_argument("--ablation-seeds", type=at_least(1), help="train the mtl-detached ablation on only the first "
                     "this many seeds (default: all)")
    exp.add_argument("--epochs", type=at_least(1), help="override every recipe's epochs (smoke tests)")
    exp.add_argument("--size", type=_side, help="override every recipe's image side (smoke tests)")
    exp.add_argument("--n-train", type=at_least(2), help="synthetic only: override the training size")
    exp.add_argument("--n-eval", type=at_least(2), help="synthetic only: override the validation and test sizes")
    exp.add_argument("--threads", type=_threads, help="torch CPU threads (default: this machine's cores"
                     + THREADS_HELP)
    _method_options(exp)
    exp.add_argument("--no-progress", action="store_true", help="no progress bars: one line per epoch instead")
    exp.set_defaults(func=_cmd_experiment)

    predict = sub.add_parser("predict", help="predict masks and decisions for images of any size")
    predict.add_argument("--checkpoint", required=True, help="e.g. runs/NAME/best.pt")
    predict.add_argument("inputs", nargs="+", help="image files or folders")
    predict.add_argument("--out", required=True, help="output folder")
    _threshold_options(predict)
    predict.add_argument("--device", type=_device, help="cpu, cuda, cuda:N or mps (default and auto: cpu)")
    predict.add_argument("--overwrite", action="store_true", help="replace earlier predictions in OUT")
    predict.set_defaults(func=_cmd_predict)

    data = sub.add_parser("data", help="synthetic data and real datasets").add_subparsers(dest="action", required=True)
    synth = data.add_parser("synth", help="write a synthetic set to disk as image/mask files")
    synth.add_argument("--out", required=True, help="output folder (images/, masks/, meta.csv)")
    synth.add_argument("--n", type=at_least(1), default=100, help="number of samples (default: 100)")
    synth.add_argument("--size", type=_side, default=128, help=f"image side in pixels, at most {SIDE_LIMIT} "
                       "(default: 128)")
    synth.add_argument("--seed", type=at_least(0), default=0, help="generator seed (default: 0)")
    synth.add_argument("--defect-rate", type=fraction, default=0.25, help="share of defective samples (default: 0.25)")
    synth.set_defaults(func=_cmd_synth)

    bench = data.add_parser("bench", help="print synthetic images/s")
    bench.add_argument("--sizes", type=_side, nargs="+", default=[128, 256],
                       help="image sides (default: 128 256)")
    bench.add_argument("--n", type=at_least(1), default=500, help="images per size (default: 500)")
    bench.set_defaults(func=_cmd_bench)

    info = data.add_parser("info", help="summarise a dataset (counts, defect sizes)")
    info.add_argument("data", choices=DATASETS, help="dataset name; real ones are looked for in $SAMTL_DATA_DIR")
    info.add_argument("--split", help="split (default: train; Magnetic Tile also: test, all); not for folder")
    info.add_argument("--images", help="images folder, for `folder`")
    info.add_argument("--masks", help="masks folder, for `folder`")
    _mask_file_options(info)
    info.set_defaults(func=_cmd_info)
    return parser


REPORT_TO = "the project's issue tracker"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `samtl` console script; returns the exit code (taught in 06_training).

    One error path: a failure the package foresees (bad data, options, checkpoints, a full disk or a
    read-only folder) prints `samtl: error: <what, which file, the fix>` and returns 2; anything else
    says where to report it and keeps its traceback behind `--debug`."""
    parser = build_parser()
    said: set[str] = set()

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        """A warning as the CLI's other messages read, `samtl: warning: ...`, without Python's file, line and
        echoed source; once, although each split of a dataset may give it again."""
        if str(message) not in said:
            said.add(str(message))
            print(f"samtl: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():  # restores Python's own printing when main returns
        warnings.showwarning = show
        args = parser.parse_args(argv)  # inside: a renamed option's warning reads like the others
        return _run(args)


def _after_interrupt(args: argparse.Namespace) -> str:
    """What an interrupted command left that can be continued: a run resumes only from its `last.pt`."""
    if args.command == "train":
        out = Path(args.out)
        if (out / "last.pt").is_file():
            return f"{out}/last.pt holds the last finished epoch: `samtl train --out {out} --resume` continues the run."
        return (f"No epoch had finished ({out} has no last.pt), so the run cannot be resumed: run the same command "
                "again to start it afresh.")
    if args.command == "experiment":
        return (f"Run the same command again: the finished runs in {args.out} are reused, and a run with a last.pt "
                "continues from its last finished epoch.")
    return ""


def _run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand under the CLI's one error path (see `main`)."""
    try:
        args.func(args)
    except SamtlError as err:
        print(f"samtl: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = err.filename or "a file"
        print(f"samtl: error: {where}: {err.strerror or err}. Check that the folder exists and is writable and "
              "that the disk has space.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"samtl: interrupted. {_after_interrupt(args)}".rstrip(), file=sys.stderr)
        return 130
    except Exception as err:
        if args.debug:
            raise
        print(f"samtl: error: unexpected failure ({err.__class__.__name__}: {err}). This is a bug in samtl_lite: "
              f"please report it, with the command you ran, to {REPORT_TO}; add --debug for the traceback.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
