"""Training: the joint-loss loop with the habits that make it reliable.

Taught in 06_training. `fit` is the dozen-line loop of the notebook (forward, joint loss, backward,
step) plus: AdamW with warm-up and cosine decay, gradient clipping, bf16/fp16 autocast on CUDA,
channels_last, a balanced sampler, progress bars, validation every epoch, atomic checkpoints with
exact resume on CPU, a stop on NaN, and DistributedDataParallel under `torchrun`.

Determinism: every epoch reseeds the shuffling, the augmentation and dropout from `(seed, epoch)`,
so a CPU run is exactly reproducible and a resumed run ends with the same weights as an
uninterrupted one. On GPU, cuDNN's autotuned kernels and atomic adds make runs close, not equal.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset
from tqdm.auto import tqdm

from samtl_lite.data.sampler import balanced_sampler
from samtl_lite.engine.checkpoint import (
    load_checkpoint,
    remove_temp_files,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from samtl_lite.engine.config import TrainConfig, default_threads, pick_device
from samtl_lite.engine.evaluate import Predictions, metrics_at, predict_dataset, thresholds_on
from samtl_lite.engine.modelio import check_compatible
from samtl_lite.errors import DataError, TrainingDiverged
from samtl_lite.losses import VARIANT_WEIGHTS, JointLoss


def loss_from_config(config: TrainConfig) -> JointLoss:
    """The joint loss a config describes: the variant's weights unless `w_seg`/`w_cls` are set (taught in
    06_training). The balance schedule applies to the mtl variant only: a single-task loss has one term, nothing to
    balance."""
    w_seg, w_cls = VARIANT_WEIGHTS[config.model]
    return JointLoss(seg=config.seg_loss, cls=config.cls_loss,
                     w_seg=w_seg if config.w_seg is None else config.w_seg,
                     w_cls=w_cls if config.w_cls is None else config.w_cls, pos_weight=config.pos_weight,
                     distance_weighting=config.distance_weighting,
                     schedule=config.loss_schedule if config.model == "mtl" else "constant")


def trainable_loss(config: TrainConfig) -> JointLoss:
    """`loss_from_config`, refusing with a DataError, before anything is written, a loss that cannot train the
    model: both weights 0, a weight for a part the model lacks, or options that contradict each other (taught in
    06_training). Checked when training starts, not when a config is read: a saved model stays loadable."""
    w_seg, w_cls = VARIANT_WEIGHTS[config.model]
    w_seg, w_cls = w_seg if config.w_seg is None else config.w_seg, w_cls if config.w_cls is None else config.w_cls
    lacks = {"seg-only": ("w_cls", w_cls, "sample head"), "cls-only": ("w_seg", w_seg, "mask decoder")}
    if config.model in lacks and lacks[config.model][1]:
        name, value, part = lacks[config.model]
        raise DataError(f"the {config.model} model has no {part}, so its {name} must be 0, not {value:g}: leave "
                        f"--{name.replace('_', '-')} out, or train --model mtl")
    scheduled = config.model == "mtl" and config.loss_schedule != "constant"
    if w_seg == 0 and w_cls == 0 and not scheduled:
        flag = {"seg-only": "--w-seg", "cls-only": "--w-cls"}.get(config.model, "--w-seg or --w-cls")
        raise DataError(f"the {config.model} model's loss weights are w_seg 0 and w_cls 0, so nothing would be "
                        f"trained: give {flag} a positive weight")
    try:
        return loss_from_config(config)
    except ValueError as err:  # options that contradict each other, said by JointLoss
        raise DataError(f"{err}.") from None


def labels_of(data: Dataset) -> np.ndarray:
    """Sample labels without loading images: `data.labels`, also through (nested) Subsets (taught in 06_training)."""
    if isinstance(data, Subset):
        return labels_of(data.dataset)[np.asarray(data.indices)]
    return np.asarray(data.labels)


@dataclass
class Distributed:
    """Where this process stands in a `torchrun` job (rank 0 of 1 when run alone; taught in 06_training)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, device: str = "auto") -> Distributed:
        """Read torchrun's variables and join the process group: NCCL, each process on its own GPU first (as NCCL
        needs), when `device` means CUDA; else gloo, so `--device cpu` trains on the CPU even where a GPU is."""
        world, local = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_RANK", "0"))
        if world > 1 and not dist.is_initialized():
            if pick_device(device).type == "cuda":
                torch.cuda.set_device(local)
                dist.init_process_group("nccl")
            else:
                dist.init_process_group("gloo")
        return cls(int(os.environ.get("RANK", "0")), world, local)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def gather(self, part: Predictions) -> Predictions:
        """Every rank's predictions, merged in dataset order, on every rank."""
        if self.world == 1:
            return part
        parts: list[Any] = [None] * self.world
        dist.all_gather_object(parts, part)
        return Predictions.merge(parts)

    def average_grads(self, params: Any) -> None:
        """Average gradients over the ranks: DistributedDataParallel does it for the model, not for parameters
        outside it, such as the learned loss balance (without this, each rank would learn its own weights)."""
        if self.world == 1:
            return
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world


SYNC_EVERY = 25  # on a GPU, steps between the finiteness checks that make the CPU wait


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA): call it before building the model (taught in 06_training)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the global state other libraries draw from)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of one epoch on one rank: shuffling, augmentation and dropout derive from it (taught in 06_training)."""
    return seed * 100_003 + epoch * 1009 + rank


def workers_for(config: TrainConfig, device: torch.device) -> int:
    """DataLoader workers: the config's, else none on CPU (the cores train) and up to 8 on CUDA
    (taught in 06_training)."""
    if config.num_workers is not None:
        return config.num_workers
    return min(8, default_threads()) if device.type == "cuda" else 0


class TrainLoader:
    """The training batches of each epoch, in an order that depends only on (seed, epoch, rank)
    (taught in 06_training).

    On CPU a fresh DataLoader per epoch keeps a resumed run exactly equal to an uninterrupted one.
    On CUDA with workers, one DataLoader with pinned memory and persistent workers serves every
    epoch (its sampler reseeded per epoch), as PyTorch's recipes do: GPU runs are not bit-exact anyway.

    No batch holds a single image: BatchNorm normalises a batch by its own statistics, and one image whose
    features are pooled to 1x1 has none (PyTorch raises). An epoch of two batches or more drops its last,
    incomplete one; a shorter epoch keeps it, unless it would hold one image, which is then left out (a
    different one each epoch). A batch size under 2, or fewer than 2 training images, is a DataError.
    """

    def __init__(self, data: Dataset, config: TrainConfig, ddp: Distributed, device: torch.device) -> None:
        if config.batch_size < 2:
            raise DataError(f"batch_size is {config.batch_size}, but training needs at least 2 images a batch: "
                            "BatchNorm normalises each batch by its own mean and variance, which one image cannot "
                            "give. Pass --batch-size 2 or more.")
        self.data, self.config, self.ddp = data, config, ddp
        self.workers = workers_for(config, device)
        self.cuda = device.type == "cuda"
        self.persistent = self.cuda and self.workers > 0
        self.loader: DataLoader | None = None

    def epoch(self, epoch: int) -> DataLoader:
        seed = epoch_seed(self.config.seed, epoch, self.ddp.rank)
        if self.loader is not None and self.persistent:
            sampler = self.loader.sampler
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            else:
                sampler.generator.manual_seed(seed)
            return self.loader
        data, config, ddp = self.data, self.config, self.ddp
        g = torch.Generator().manual_seed(seed)
        n = len(data) // ddp.world
        if config.balanced:
            sampler = balanced_sampler(labels_of(data), num_samples=n, seed=seed)
        elif ddp.world > 1:
            sampler = DistributedSampler(data, ddp.world, ddp.rank, shuffle=True, seed=config.seed)
            sampler.set_epoch(epoch)
        else:
            sampler = RandomSampler(data, generator=g)
        count, size = len(sampler), config.batch_size  # the samples this rank draws each epoch
        if count < 2:
            raise DataError(f"the training split has {len(data)} image(s) ({count} per process), but training needs "
                            "at least 2 a batch (BatchNorm). Add training images, or assign more to the train split.")
        self.loader = DataLoader(data, batch_size=size, sampler=sampler, num_workers=self.workers,
                                 drop_last=count >= 2 * size or count % size == 1, generator=g, pin_memory=self.cuda,
                                 persistent_workers=self.persistent)
        return self.loader


def warmup_cosine(total_steps: int, warmup: float) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over `warmup` of the steps, then cosine decay to 0
    (taught in 06_training)."""
    warm = max(1, int(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))

    return factor


def evaluate_during_training(model: nn.Module, data: Dataset, config: TrainConfig, device: torch.device,
                             ddp: Distributed, progress: bool) -> dict[str, Any]:
    """Validation metrics at the thresholds that would be chosen now, the chosen thresholds (`thr_*`)
    and the validation loss; each rank predicts its share of the samples (taught in 06_training). The validation
    loss uses the variant's fixed weights whatever the training schedule, so that every epoch is measured alike."""
    shard = list(range(ddp.rank, len(data), ddp.world))
    yardstick = loss_from_config(replace(config, loss_schedule="constant")).to(device)
    pred = predict_dataset(model, data, batch_size=max(config.batch_size, 32), device=device, indices=shard,
                           channels_last=config.channels_last, progress=progress, loss_fn=yardstick)
    pred = ddp.gather(pred)
    if not np.isfinite(pred.score).all():  # a finite loss can hide it: the logits of a saturated head overflow
        raise TrainingDiverged(f"the model's sample scores on the validation split became NaN or inf: its weights "
                               f"have blown up. Lower the learning rate (now {config.lr:g}) and train again.")
    chosen = thresholds_on(pred, config.max_fpr)  # without defective samples: 0.5, and the loss picks best.pt
    metrics = metrics_at(pred, chosen)
    spread = float(np.ptp(pred.score)) if len(pred.score) > 1 else float("nan")  # 0: one score for every sample
    return {**metrics, "loss": pred.loss, "score_range": spread,
            **{f"thr_{k}": v for k, v in chosen.items() if k != "rule"}}


def _collapse_note(row: dict[str, Any], config: TrainConfig) -> str | None:
    """A note when the sample head gave every validation sample the same score: its pooled features went to zero
    (a learning rate too high does this), its AP is chance, and it seldom recovers; None otherwise."""
    if config.model == "seg-only" or not row.get("val_score_range", 1.0) < 1e-6:
        return None
    return (f"note: epoch {row['epoch']}: the sample head gave every validation sample the same score, so its AP is "
            f"chance: the head has collapsed and seldom recovers. Train again with a lower --lr (now {config.lr:g}).")


def selection_key(row: dict[str, Any], monitor: str) -> tuple[float, float]:
    """What `best.pt` maximises: the monitored validation score, ties (and nan) settled by the lower
    validation loss (taught in 06_training).

    `joint` (default) is the mean of the sample AP, the F1 of the mask's sample decisions and the
    Seg_mIoU: an epoch must serve both the sample decision and the mask to be kept. A score the
    validation split cannot give (nan: e.g. no defective sample) counts as -inf, so the loss decides."""
    if monitor == "joint" and "val_seg_f1" in row:
        parts = [row["val_ap"], row["val_seg_f1"], np.nan_to_num(row.get("val_seg_miou", np.nan))]
        score = float(np.mean(parts))
    elif monitor == "loss":
        score = -row.get("val_loss", row["loss"])
    else:
        score = row.get("val_ap", float("nan"))
    loss = row.get("val_loss", row["loss"])
    return (-math.inf if math.isnan(score) else score, -math.inf if math.isnan(loss) else -loss)


def epoch_line(row: dict[str, Any], epochs: int, seconds: float) -> str:
    """One line per epoch, for logs and `--no-progress` runs (taught in 06_training)."""
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['loss']:.4f}"]
    names = (("val_ap", "val AP"), ("val_seg_f1", "mask F1"), ("val_seg_miou", "Seg_mIoU"), ("val_loss", "val loss"))
    parts += [f"{label} {row[k]:.3f}" for k, label in names if k in row]
    return ", ".join(parts) + f" ({seconds:.0f} s)"


def _diverged(when: str, config: TrainConfig, out: Path | None) -> TrainingDiverged:
    """The error for a loss that became NaN or inf (`when`: its value and where): what is left on disk, and the
    options that can cause it, with their values."""
    if out is None:
        kept = ""
    elif (out / "last.pt").is_file():
        kept = f"; {out}/last.pt still holds the last good epoch"
    else:
        kept = f"; no epoch finished, so {out} holds no checkpoint"
    given = ", ".join(f"{k} {getattr(config, k):g}" for k in ("pos_weight", "w_seg", "w_cls")
                      if getattr(config, k) is not None)
    return TrainingDiverged(f"loss became {when}{kept}. Lower the learning rate (now {config.lr}) or check the loss "
                            f"options{f' ({given})' if given else ''} and the data for NaN pixels.")


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset | None,
    config: TrainConfig,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train `model` with the joint loss and return the per-epoch history (taught in 06_training).

    With `out`, writes `best.pt` when the epoch beats every earlier one by `selection_key`, then
    `last.pt` every epoch (in that order, so any state on disk resumes), and `history.json`.
    `resume=True` continues from `out/last.pt`. Without progress bars, prints one line per epoch.
    """
    ddp = Distributed.from_env(config.device)
    device = pick_device(config.device)
    if ddp.world > 1 and device.type == "cuda":
        device = torch.device(f"cuda:{ddp.local_rank}")
    torch.set_num_threads(config.threads or default_threads())
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(out) if out is not None else None
    if out is not None and ddp.main:
        remove_temp_files(out)
    torch.manual_seed(config.seed)
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    raw = model
    if ddp.world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[ddp.local_rank] if device.type == "cuda"
                                                    else None)
    if config.compile:
        model = torch.compile(model)
    loss_fn = loss_from_config(config).to(device)
    groups = [{"params": list(raw.parameters())}]
    if list(loss_fn.parameters()):  # learned loss balance: no weight decay pulling it to 0.5/0.5
        groups.append({"params": list(loss_fn.parameters()), "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    # the weights' moving average, batch-norm statistics included: what is validated, kept and evaluated
    ema = AveragedModel(raw, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True) if config.ema else None
    kept_model = ema.module if ema is not None else raw
    loader = TrainLoader(train_data, config, ddp, device)
    steps_per_epoch = len(loader.epoch(0))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(config.epochs * steps_per_epoch, config.warmup))
    use_amp = config.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    history: list[dict[str, Any]] = []
    start, best = 0, (-math.inf, -math.inf)
    if resume:
        if out is None:
            raise ValueError("resume=True needs the run folder `out`")
        state = load_checkpoint(out / "last.pt")
        check_compatible(state, config, out / "last.pt")
        raw.load_state_dict(state["train_model"] if ema is not None else state["model"])
        if ema is not None:
            ema.module.load_state_dict(state["model"])
            ema.n_averaged.fill_(state["ema_updates"])
        loss_fn.load_state_dict(state.get("loss", {}))
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        start, best, history = state["epoch"] + 1, tuple(state["best"]), list(state["history"])

    show = progress and ddp.main
    noted = False
    epochs = tqdm(range(start, config.epochs), desc="epochs", disable=not show, initial=start, total=config.epochs)
    for epoch in epochs:
        began = time.perf_counter()
        loss_fn.set_progress(epoch, config.epochs)
        torch.manual_seed(epoch_seed(config.seed, epoch, ddp.rank))  # augmentation, dropout
        model.train()
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, loss_seg, loss_cls
        n_batches = 0
        batches = tqdm(loader.epoch(epoch), desc=f"epoch {epoch + 1}", leave=False, disable=not show)
        for batch in batches:
            x = batch["image"].to(device, non_blocking=True)
            if config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            mask, label = batch["mask"].to(device, non_blocking=True), batch["label"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                parts = loss_fn(model(x), mask, label)
            sums += torch.stack([p.detach().double() for p in parts])
            n_batches += 1
            # every step on CPU; on a GPU every `SYNC_EVERY` steps, since each check waits for the GPU
            if (device.type == "cpu" or n_batches % SYNC_EVERY == 0) and not torch.isfinite(sums[0]):
                raise _diverged(f"{parts.total.item()} at epoch {epoch + 1}, batch {n_batches}", config, out)
            opt.zero_grad(set_to_none=True)
            scaler.scale(parts.total).backward()
            ddp.average_grads(loss_fn.parameters())
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(raw.parameters(), config.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            if ema is not None:
                ema.update_parameters(raw)
            if show and device.type == "cpu":
                batches.set_postfix(loss=f"{float(sums[0]) / n_batches:.4f}")
        means = (sums / max(n_batches, 1)).tolist()
        if not math.isfinite(means[0]):
            raise _diverged(f"{means[0]} during epoch {epoch + 1}", config, out)
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0],
                               **dict(zip(("loss", "loss_seg", "loss_cls"), means)),
                               **dict(zip(("w_seg", "w_cls"), loss_fn.weights()))}
        if val_data is not None:
            metrics = evaluate_during_training(kept_model, val_data, config, device, ddp, show)
            row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, int | float)})
        key = selection_key(row, config.monitor)
        improved = key > best
        best = key if improved else best
        row["kept"] = improved
        history.append(row)
        epochs.set_postfix({k: f"{row[k]:.3f}" for k in ("loss", "val_ap", "val_seg_f1") if k in row})
        if out is not None and ddp.main:
            state = {"model": kept_model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "scaler": scaler.state_dict(), "rng": rng_state(), "epoch": epoch, "best": list(best),
                     "config": config.to_dict(), "history": history, "loss": loss_fn.state_dict()}
            if ema is not None:  # `model` holds the average, which is what is used; training goes on from these
                state |= {"train_model": raw.state_dict(), "ema_updates": int(ema.n_averaged)}
            if improved:
                save_checkpoint(out / "best.pt", state)
            save_checkpoint(out / "last.pt", state)
            (out / "history.json").write_text(json.dumps(history, indent=1))
        if ddp.main and not show:  # after the checkpoints: a line on screen means the epoch is on disk
            print(epoch_line(row, config.epochs, time.perf_counter() - began), flush=True)
        if not noted and (note := _collapse_note(row, config)):
            noted = True
            if ddp.main:
                (tqdm.write if show else print)(note)
    return history


def kept_epoch(history: list[dict[str, Any]], monitor: str) -> str:
    """Which epoch `best.pt` holds and why, in one sentence (taught in 06_training)."""
    kept = [h for h in history if h.get("kept")]
    if not kept:
        return "no epoch was kept"
    h = kept[-1]
    if math.isinf(selection_key(h, monitor)[0]):
        why = f"the lowest validation loss ({h.get('val_loss', h['loss']):.4f}); the {monitor} score was not " \
              "defined (a validation split without defective samples)"
    elif monitor == "joint" and "val_seg_f1" in h:
        why = f"the best joint score {selection_key(h, monitor)[0]:.3f} = mean of val AP {h['val_ap']:.3f}, " \
              f"mask-decision F1 {h['val_seg_f1']:.3f} and Seg_mIoU {np.nan_to_num(h['val_seg_miou']):.3f}"
    else:
        why = f"the best validation {monitor} ({abs(selection_key(h, monitor)[0]):.4f})"
    return f"kept epoch {h['epoch']} of {len(history)}: {why}"
