"""A whole run, as `samtl train` and `samtl evaluate` do it: splits, training, thresholds, report.

Taught in 06_training. Thresholds for sample decisions are chosen on the validation split (see
`choose_thresholds`) and applied unchanged to the test split; the test split never chooses
anything. The chosen thresholds are written into `best.pt` and `config.json`, so the model carries
everything needed to use it: its recipe (size, resize mode, channels, normalisation) and its
decision thresholds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch.distributed as dist
from torch.utils.data import Dataset

from samtl_lite.data.catalog import DATASETS, get_splits, resize_note
from samtl_lite.data.io import as_hw
from samtl_lite.data.real import verify_images
from samtl_lite.data.stats import image_shapes, median_shape
from samtl_lite.engine.checkpoint import load_checkpoint, save_checkpoint
from samtl_lite.engine.config import TrainConfig, pick_device
from samtl_lite.engine.evaluate import MASK_THRESHOLDS, false_alarm_notes, metrics_at, predict_dataset, thresholds_on
from samtl_lite.engine.loop import Distributed, fit, kept_epoch, seed_everything, trainable_loss
from samtl_lite.engine.modelio import build_from_config, check_compatible, load_model
from samtl_lite.engine.recipes import shaped_size
from samtl_lite.engine.report import write_json, write_report
from samtl_lite.errors import CheckpointError, DataError
from samtl_lite.models import input_stride


def splits_of(config: TrainConfig, augment: bool | None = None, **data: Any) -> tuple[Dataset, Dataset, Dataset]:
    """(train, val, test) as `config` reads them (taught in 06_training); `data` may swap the dataset
    (`name`, `images`, `masks`), and then the folder-only options of the training data are dropped, and
    may say how its mask files are named (`mask_suffix`, `missing_mask`)."""
    source = {"name": config.data, "images": config.images, "masks": config.masks, **data}
    own = source["name"] == config.data
    folder = {"group": config.group, "split_csv": config.split_csv, "mask_suffix": config.mask_suffix,
              "missing_mask": config.missing_mask} if own else {}
    folder |= {k: data[k] for k in ("mask_suffix", "missing_mask") if k in data}
    return get_splits(source["name"], config.resolved_size(), config.augment if augment is None else augment,
                      source["images"], source["masks"], split_seed=config.split_seed, n_train=config.n_train,
                      n_eval=config.n_eval, channels=config.in_channels, resize=config.resize,
                      mask_threshold=config.mask_threshold, **folder)


def fit_shape_to_data(config: TrainConfig) -> tuple[TrainConfig, tuple[int, int] | None]:
    """`config` at about its number of pixels in the shape of its training images' median image, and that
    image's (width, height); unchanged, with None, for data drawn in memory (taught in 09_real_data)."""
    train, _, _ = splits_of(config, augment=False)
    shapes = image_shapes(train, most=200)
    if shapes is None:
        return config, None
    h, w = as_hw(config.resolved_size())
    median = median_shape(shapes)
    return replace(config, size=shaped_size(median, h * w, input_stride(config.encoder))), median


def evaluate_model(model: Any, val: Dataset, test: Dataset, out: Path | None, config: TrainConfig,
                   device: Any = "cpu", history: list[dict] | None = None, progress: bool = True,
                   chosen: dict[str, Any] | None = None, tag: str = "", title: str = "",
                   split: str = "test") -> dict[str, Any]:
    """Evaluate `test` at thresholds chosen on `val` (or the `chosen` ones) and write the report
    (taught in 06_training). Reports the head's decisions and the mask's, with and without gating.
    The report's figures name the model and data (`title`) and the evaluated `split`."""
    if chosen is None:
        chosen = thresholds_on(predict_dataset(model, val, max(config.batch_size, 32), device, progress=progress),
                               config.max_fpr)
    if "mask" in chosen:  # a threshold off the candidate grid (a user's, an older run's) gets its own statistics
        chosen = {**chosen, "mask": float(chosen["mask"])}
    grid = tuple(sorted({*MASK_THRESHOLDS, chosen.get("mask", 0.5)}))
    test_pred = predict_dataset(model, test, max(config.batch_size, 32), device, progress=progress,
                                mask_thresholds=grid)
    result = {"thresholds": chosen, "test": metrics_at(test_pred, chosen)}
    for note in false_alarm_notes(result["test"], split):
        print(f"note: {note}")
    if test_pred.stats and model.cls_head is not None:
        result["test_gated"] = metrics_at(test_pred, chosen, gate=True)
    if out is not None:
        write_report(out, model, test, test_pred, result["test"], chosen, history, device, tag=tag, title=title,
                     split=split)
        write_json(out / f"metrics{tag}.json", result)
    return result


def describe_model(config: TrainConfig) -> str:
    """The model in words for figure titles, e.g. "mtl model, tiny encoder" (taught in 06_training)."""
    return f"{config.model} model, {config.encoder} encoder"


def record_thresholds(out: Path, chosen: dict[str, Any]) -> None:
    """Write the chosen thresholds into `best.pt` and `config.json`: the model carries its decisions
    (taught in 06_training)."""
    state = load_checkpoint(out / "best.pt")
    state["thresholds"] = chosen
    save_checkpoint(out / "best.pt", state)
    write_json(out / "config.json", {**state["config"], "preprocess": TrainConfig.from_dict(state["config"])
                                     .preprocess(), "thresholds": chosen})


# What `train_and_evaluate` and `evaluate_checkpoint` (whose `tag` is `_{data}_{split}`) write into a run folder, as
# paths relative to it, the panels inside the misses and false-alarm folders included, and the `junk` that file
# browsers (macOS Finder, Windows Explorer) leave in any folder they show: nothing else is the run's.
RUN_FILES = re.compile("|".join(pattern.format(tag=rf"(_({'|'.join(DATASETS)})_(val|test))?",
                                               junk=r"(\.DS_Store|\._[^/]+|Thumbs\.db|desktop\.ini)") for pattern in (
    r"config\.json", r"history\.json", r"(best|last)\.pt", r"\.(best|last)\.pt\.\w+\.tmp", r"curves\.png",
    r"metrics{tag}\.json", r"results{tag}\.csv", r"(pr_curve|recall_by_area){tag}\.png",
    r"(misses|false_alarms){tag}(/\d{{2,}}_[^/]+\.png)?", r"((misses|false_alarms){tag}/)?{junk}")))


def is_run_config(path: Path) -> bool:
    """True if `path` is a `config.json` that samtl wrote (not a user's own file of that name; taught in
    06_training)."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and {"model", "encoder", "preprocess"} <= set(saved)


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to write a run into a folder that holds anything else, or an earlier run unless `resume`
    or `overwrite` says what to do with it; `overwrite` deletes only the earlier run's own files (taught in
    06_training). A run that never finished an epoch (its `config.json`, no checkpoint) is started again without
    asking."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file, not a folder. Give --out a folder name (it is created if missing).")
    run = is_run_config(out / "config.json")
    if resume and not run:
        raise DataError(f"{out} holds no samtl run (no config.json of one), so there is nothing to resume. Drop "
                        "--resume to start a run there, or give --out the folder of the run to continue.")
    if not out.is_dir():
        return
    no_last = run and not (out / "last.pt").exists()
    unfinished = no_last and not (out / "best.pt").exists()
    if resume and unfinished:
        raise DataError(f"{out} holds a run that never finished an epoch (no last.pt): there is nothing to "
                        "resume. Run the same command again without --resume to start it afresh.")
    if resume and no_last:
        raise DataError(f"{out}/last.pt is missing, so this run cannot be resumed. Run again with --overwrite instead "
                        "of --resume to replace it, or choose another --out folder.")
    if resume:
        return
    entries = list(out.rglob("*"))
    ours = {p for p in entries if RUN_FILES.fullmatch(p.relative_to(out).as_posix())} if run else set()
    listed = ours | {out}  # name a foreign folder, not each file in it
    foreign = sorted(p.relative_to(out).as_posix() for p in entries if p not in ours and p.parent in listed)
    if foreign:
        raise DataError(f"{out} holds files that are not a samtl run ({', '.join(foreign[:3])}"
                        f"{', ...' if len(foreign) > 3 else ''}). Choose another --out folder: nothing was written.")
    if unfinished and all(p.name == "config.json" or p.name.startswith(".") for p in ours):  # temporary files
        print(f"note: {out} holds a run that never finished an epoch; starting it again")
    elif ours and not overwrite:
        how = "--overwrite to replace it" if no_last else "--resume to continue it, --overwrite to replace it"
        raise DataError(f"{out} holds an earlier run{' without last.pt' if no_last else ''}. Pass {how}, or choose "
                        "another --out folder.")
    for p in ours:
        if p.parent == out:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def train_and_evaluate(config: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                       overwrite: bool = False) -> dict[str, Any]:
    """Train on the train split, keep the best epoch by validation, choose thresholds on validation,
    evaluate on test, and write the run folder (taught in 06_training). One seed gives one model:
    everything random is seeded before the model is built."""
    out = Path(out)
    pick_device(config.device)  # a device this machine lacks fails before anything is written,
    trainable_loss(config)  # and so does a loss that cannot train the model
    if os.environ.get("RANK", "0") == "0":  # one process of a torchrun job clears the folder, not each at once
        prepare_out(out, resume, overwrite)
    if resume:
        check_compatible(load_checkpoint(out / "last.pt"), config, out / "last.pt")
    seed_everything(config.seed)
    train, val, test = splits_of(config)
    ddp = Distributed.from_env(config.device)
    for split in (train, val, test):  # a corrupt file is an error now, not when it is drawn hours into the run
        verify_images(split, progress=progress and ddp.main)
    note = resize_note(train, config.resolved_size(), config.resize)
    if note and ddp.main:
        print(f"note: {note}")
    model = build_from_config(config)
    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", {**config.to_dict(), "preprocess": config.preprocess()})
    history = fit(model, train, val, config, out, resume=resume, progress=progress)
    if ddp.world > 1:
        dist.destroy_process_group()  # rank 0 evaluates alone from here
    if not ddp.main:
        return {}
    print(kept_epoch(history, config.monitor))
    device = pick_device(config.device)
    best, _, _ = load_model(out / "best.pt", device)
    result = evaluate_model(best, val, test, out, config, device, history, progress,
                            title=f"run {out.name}: {describe_model(config)}; {config.data} data")
    record_thresholds(out, result["thresholds"])
    return result


def evaluate_checkpoint(checkpoint: str | Path, data: str | None = None, split: str = "test",
                        out: str | Path | None = None, images: str | None = None, masks: str | None = None,
                        device: str = "auto", progress: bool = True, rechoose: bool = False,
                        overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate a saved model on a split, reading the data as the model was trained to read it and
    deciding with the thresholds it carries (taught in 06_training).

    `data` (default: the training data) may name another dataset. `overrides` may change `size`,
    `resize` or the thresholds (`score`, `mask`, `min_area`); each is printed. For folder data they may
    also say how its masks are named (`mask_suffix`, `missing_mask`). `rechoose` chooses the thresholds
    again on this data's validation split."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    dev = pick_device(device)
    model, config, state = load_model(checkpoint, dev)
    chosen = dict(state.get("thresholds") or {})
    if overrides.get("in_channels", config.in_channels) != config.in_channels:
        raise CheckpointError(f"{checkpoint}: the model takes {config.in_channels}-channel images; it cannot read "
                              f"them with {overrides['in_channels']} channels. Leave --channels out: the model's "
                              "own setting is used.")
    for key in ("size", "resize"):
        if key in overrides and overrides[key] != getattr(config, key):
            print(f"note: evaluating at {key} {overrides[key]}; the model was trained at {getattr(config, key)}")
            setattr(config, key, overrides[key])
    for key in ("score", "mask", "min_area"):
        if key in overrides:
            print(f"note: {key} threshold {overrides[key]} instead of the model's {chosen.get(key, 'none')}")
            chosen[key] = overrides[key]
    if not chosen and not rechoose:
        raise CheckpointError(f"{checkpoint}: this checkpoint carries no thresholds (its run was not evaluated). "
                              "Pass --rechoose to choose them on the validation split, or give --score-threshold.")
    name = data or config.data
    reading = {k: overrides[k] for k in ("mask_suffix", "missing_mask") if k in overrides}
    _, val, test = splits_of(config, augment=False, name=name, images=images or (None if data else config.images),
                             masks=masks or (None if data else config.masks), **reading)
    target = {"val": val, "test": test}[split]
    if rechoose:
        pred = predict_dataset(model, val, max(config.batch_size, 32), dev, progress=progress)
        chosen = {**thresholds_on(pred, config.max_fpr), **{k: v for k, v in chosen.items() if k in overrides}}
    out = Path(out) if out is not None else Path(checkpoint).parent
    title = f"{Path(checkpoint).parent.name}/{Path(checkpoint).name}: {describe_model(config)}; {name} data" + \
        ("" if name == config.data else f" (trained on {config.data})")
    return evaluate_model(model, val, target, out, config, dev, state.get("history"), progress, chosen=chosen,
                          tag=f"_{name}_{split}", title=title, split=split)

