"""Training throughput of the GPU recipe on one card, with and without data loading, in images/s.

    python bench/bench_gpu.py                      # CUDA: mtl ResNet-18 U-Net, 256², batch 64
    python bench/bench_gpu.py --compile            # also under torch.compile
    python bench/bench_gpu.py --workers 0 8        # data loading with 0 and with 8 DataLoader workers
    python bench/bench_gpu.py --device cpu --size 32 --batch-size 2 --steps 2 --warmup 1   # smoke test

One step is what the training loop does per batch: forward under bf16 autocast (CUDA only, as in the loop) with
channels_last weights and inputs, the recipe's joint loss, backward, gradient clipping and an AdamW step.

Why two modes: "fixed batch" repeats one batch already on the device, so it measures the model and the card
alone (the ceiling); "data loader" feeds the same steps from the loop's own `TrainLoader` over the synthetic
benchmark (`recipe("synthetic-gpu")` at --size) with pinned memory, non-blocking copies and, unless --workers
says otherwise, the workers the loop would choose. The gap between the two rows is what the input pipeline
costs. Each rate is wall-clock time over --steps steps after --warmup steps (allocator, cuDNN autotuning,
compilation, worker start-up), between CUDA synchronisations. Prints a Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import torch
from torch import nn
from torch.utils.data import default_collate

from samtl_lite.engine import build_from_config, loss_from_config, recipe, splits_of
from samtl_lite.engine.config import TrainConfig
from samtl_lite.engine.loop import Distributed, TrainLoader, workers_for

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # image, mask, label, on the device


def on_device(batch: dict[str, Any], device: torch.device) -> Batch:
    """A collated batch on `device`, as the loop moves it: non-blocking copies, channels_last images."""
    x = batch["image"].to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    return x, batch["mask"].to(device, non_blocking=True), batch["label"].to(device, non_blocking=True)


def loader_batches(loader: TrainLoader, device: torch.device) -> Iterator[Batch]:
    """The loop's training batches, epoch after epoch, on `device`."""
    for epoch in itertools.count():
        for batch in loader.epoch(epoch):
            yield on_device(batch, device)


def make_step(model: nn.Module, config: TrainConfig, device: torch.device) -> Callable[[nn.Module, Batch], int]:
    """One training step of `net` (the model, or its compiled form) on a batch; returns the images it saw."""
    loss_fn = loss_from_config(config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def step(net: nn.Module, batch: Batch) -> int:
        x, mask, label = batch
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            parts = loss_fn(net(x), mask, label)
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        return x.shape[0]

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step: Callable[[nn.Module, Batch], int], net: nn.Module, batches: Iterator[Batch], warmup: int,
         steps: int, device: torch.device) -> tuple[float, float]:
    """(images/s, ms/step) over `steps` timed steps after `warmup` untimed ones."""
    for _ in range(warmup):
        step(net, next(batches))
    sync(device)
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        images += step(net, next(batches))
    sync(device)
    seconds = time.perf_counter() - start
    return images / seconds, 1000 * seconds / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a smoke test")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--size", type=int, default=256, help="image side (default 256)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per row (default 50)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before each row (default 10)")
    parser.add_argument("--workers", type=int, nargs="+", help="DataLoader workers to time (default: the loop's)")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile'd model")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "bench_gpu.py: CUDA is not available on this machine; run it where a GPU is, or pass "
                       "--device cpu (with tiny settings) to smoke-test it\n")

    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as the loop sets it
    config = recipe("synthetic-gpu", size=args.size, batch_size=args.batch_size)
    train = splits_of(config)[0]
    model = build_from_config(config).to(device, memory_format=torch.channels_last).train()
    step = make_step(model, config, device)
    nets = {"eager": model, **({"torch.compile": torch.compile(model)} if args.compile else {})}
    fixed = on_device(default_collate([train[i] for i in range(args.batch_size)]), device)
    loop_workers = workers_for(config, device)

    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {card}; torch {torch.__version__}")
    print(f"{config.model} {config.encoder}+{config.decoder}, {args.size}², batch {args.batch_size}, "
          f"{'bf16 autocast' if device.type == 'cuda' else 'fp32'}, channels_last, AdamW; {args.steps} timed steps "
          f"after {args.warmup} warm-up; data loader: TrainLoader over recipe('synthetic-gpu'), pinned memory "
          f"{device.type == 'cuda'}, the loop would use {loop_workers} workers\n")
    print("| data | model | workers | images/s | ms/step |")
    print("|---|---|---:|---:|---:|", flush=True)
    for name, net in nets.items():
        per_s, ms = rate(step, net, itertools.repeat(fixed), args.warmup, args.steps, device)
        print(f"| fixed batch on the device | {name} | - | {per_s:.1f} | {ms:.1f} |", flush=True)
        for workers in args.workers or [loop_workers]:
            loader = TrainLoader(train, replace(config, num_workers=workers), Distributed(), device)
            per_s, ms = rate(step, net, loader_batches(loader, device), args.warmup, args.steps, device)
            print(f"| data loader | {name} | {workers} | {per_s:.1f} | {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
