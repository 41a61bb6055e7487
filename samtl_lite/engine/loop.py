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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset
from tqdm.auto import tqdm

from samtl_lite.data.sampler import balanced_sampler
from samtl_lite.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from samtl_lite.engine.config import TrainConfig, pick_device
from samtl_lite.engine.evaluate import Predictions, compute_metrics, predict_dataset
from samtl_lite.errors import CheckpointError, TrainingDiverged
from samtl_lite.losses import VARIANT_WEIGHTS, JointLoss
from samtl_lite.models import build_model


def build_from_config(config: TrainConfig) -> nn.Module:
    """The model a config describes (taught in 06_training)."""
    return build_model(config.model, config.encoder, config.decoder, config.in_channels,
                       detach_input=config.detach_input, use_mask=config.use_mask)


def loss_from_config(config: TrainConfig) -> JointLoss:
    """The joint loss a config describes: the variant's weights unless `w_seg`/`w_cls` are set."""
    w_seg, w_cls = VARIANT_WEIGHTS[config.model]
    return JointLoss(seg=config.seg_loss, cls=config.cls_loss,
                     w_seg=w_seg if config.w_seg is None else config.w_seg,
                     w_cls=w_cls if config.w_cls is None else config.w_cls, pos_weight=config.pos_weight)


def labels_of(data: Dataset) -> np.ndarray:
    """Sample labels without loading images: `data.labels`, also through (nested) Subsets."""
    if isinstance(data, Subset):
        return labels_of(data.dataset)[np.asarray(data.indices)]
    return np.asarray(data.labels)


@dataclass
class Distributed:
    """Where this process stands in a `torchrun` job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

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


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of one epoch on one rank: shuffling, augmentation and dropout derive from it."""
    return seed * 100_003 + epoch * 1009 + rank


def make_loader(data: Dataset, config: TrainConfig, epoch: int, ddp: Distributed) -> DataLoader:
    """This epoch's training loader; its order depends only on (seed, epoch, rank)."""
    seed = epoch_seed(config.seed, epoch, ddp.rank)
    g = torch.Generator().manual_seed(seed)
    n = len(data) // ddp.world
    if config.balanced:
        sampler = balanced_sampler(labels_of(data), num_samples=n, seed=seed)
    elif ddp.world > 1:
        sampler = DistributedSampler(data, ddp.world, ddp.rank, shuffle=True, seed=config.seed)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(data, generator=g)
    return DataLoader(data, batch_size=config.batch_size, sampler=sampler, num_workers=config.num_workers,
                      drop_last=len(data) // ddp.world >= 2 * config.batch_size,
                      generator=g, persistent_workers=False)


def warmup_cosine(total_steps: int, warmup: float) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up over `warmup` of the steps, then cosine decay to 0."""
    warm = max(1, int(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))

    return factor


def evaluate_during_training(model: nn.Module, data: Dataset, config: TrainConfig, device: torch.device,
                             ddp: Distributed, progress: bool) -> dict[str, Any]:
    """Validation metrics at thresholds 0.5, each rank predicting its share of the samples."""
    shard = list(range(ddp.rank, len(data), ddp.world))
    pred = predict_dataset(model, data, batch_size=max(config.batch_size, 32), device=device, indices=shard,
                           mask_thresholds=(0.5,), channels_last=config.channels_last, progress=progress)
    return compute_metrics(ddp.gather(pred), 0.5, 0.5)


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

    With `out`, writes `last.pt` every epoch, `best.pt` when the validation `config.monitor` improves,
    and `history.json`. `resume=True` continues from `out/last.pt`.
    """
    ddp = Distributed.from_env()
    device = torch.device(f"cuda:{ddp.local_rank}") if ddp.world > 1 and torch.cuda.is_available() \
        else pick_device(config.device)
    out = Path(out) if out is not None else None
    torch.manual_seed(config.seed)
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    raw = model
    if ddp.world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[ddp.local_rank] if device.type == "cuda"
                                                    else None)
    loss_fn = loss_from_config(config)
    opt = torch.optim.AdamW(raw.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(make_loader(train_data, config, 0, ddp))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(config.epochs * steps_per_epoch, config.warmup))
    use_amp = config.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    history: list[dict[str, Any]] = []
    start, best = 0, -math.inf
    if resume:
        if out is None:
            raise ValueError("resume=True needs the run folder `out`")
        state = load_checkpoint(out / "last.pt")
        check_compatible(state, config, out / "last.pt")
        raw.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        start, best, history = state["epoch"] + 1, state["best"], list(state["history"])

    epochs = tqdm(range(start, config.epochs), desc="epochs", disable=not (progress and ddp.main),
                  initial=start, total=config.epochs)
    for epoch in epochs:
        loss_fn.set_progress(epoch, config.epochs)
        torch.manual_seed(epoch_seed(config.seed, epoch, ddp.rank))  # augmentation, dropout
        model.train()
        sums = {"loss": 0.0, "loss_seg": 0.0, "loss_cls": 0.0}
        n_batches = 0
        batches = tqdm(make_loader(train_data, config, epoch, ddp), desc=f"epoch {epoch + 1}", leave=False,
                       disable=not (progress and ddp.main))
        for batch in batches:
            x = batch["image"].to(device, non_blocking=True)
            if config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            mask, label = batch["mask"].to(device), batch["label"].to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                parts = loss_fn(model(x), mask, label)
            if not torch.isfinite(parts.total):
                raise TrainingDiverged(
                    f"loss became {parts.total.item()} at epoch {epoch + 1}, batch {n_batches + 1}"
                    f"{f'; {out}/last.pt still holds the last good epoch' if out else ''}. Lower the learning "
                    f"rate (now {config.lr}) or check the data for NaN pixels."
                )
            opt.zero_grad(set_to_none=True)
            scaler.scale(parts.total).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(raw.parameters(), config.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            n_batches += 1
            for k, v in zip(sums, parts):
                sums[k] += float(v.detach())
            batches.set_postfix(loss=f"{sums['loss'] / n_batches:.4f}")
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0],
                               **{k: v / max(n_batches, 1) for k, v in sums.items()}}
        if val_data is not None:
            metrics = evaluate_during_training(raw, val_data, config, device, ddp, progress and ddp.main)
            row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, int | float)})
        history.append(row)
        score = row.get(f"val_{config.monitor}", -row["loss"])
        improved = not math.isnan(score) and score > best
        best = max(best, score) if improved else best
        epochs.set_postfix({k: f"{row[k]:.3f}" for k in ("loss", "val_ap", "val_seg_recall") if k in row})
        if out is not None and ddp.main:
            state = {"model": raw.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "scaler": scaler.state_dict(), "rng": rng_state(), "epoch": epoch, "best": best,
                     "config": config.to_dict(), "history": history}
            save_checkpoint(out / "last.pt", state)
            if improved:
                save_checkpoint(out / "best.pt", state)
            (out / "history.json").write_text(json.dumps(history, indent=1))
    return history


def check_compatible(state: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse a checkpoint whose network differs from `config`'s, naming the fields that differ."""
    saved = TrainConfig.from_dict(state["config"]).model_signature()
    diff = {k: (saved[k], v) for k, v in config.model_signature().items() if saved[k] != v}
    if diff:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"{path} was trained with a different model ({detail}). Use the same settings, "
                              "or a new run folder.")


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, TrainConfig, dict]:
    """Rebuild the model of a checkpoint and load its weights (taught in 06_training)."""
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    model = build_from_config(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the model its config describes ({err})") from None
    return model.to(device).eval(), config, state
