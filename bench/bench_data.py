"""What an epoch of real data costs next to the model's own training steps.

    SAMTL_DATA_DIR=../shared/data python bench/bench_data.py                  # mt-cpu recipe
    SAMTL_DATA_DIR=../shared/data python bench/bench_data.py --recipe mt-gpu

Times, on the recipe's training split with its augmentation: (1) one pass that decodes and resizes
every image (the first epoch, which fills the cache), (2) one pass from the cache (every later
epoch), and (3) the model's forward + backward + AdamW steps over the same number of images on
batches already in memory. The goal: data costs no more than 10% of the model's step time.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from samtl_lite.engine import build_from_config, loss_from_config, recipe, splits_of


def epoch_seconds(loader: DataLoader) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def model_seconds(config, batches: list[dict], channels_last: bool = True) -> float:
    """Forward + backward + step over `batches`, on the CPU."""
    model, loss_fn = build_from_config(config), loss_from_config(config)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr)
    model.train()
    start = time.perf_counter()
    for b in batches:
        x = b["image"].contiguous(memory_format=torch.channels_last) if channels_last else b["image"]
        loss = loss_fn(model(x), b["mask"], b["label"]).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="mt-cpu")
    args = parser.parse_args()
    config = recipe(args.recipe)
    torch.manual_seed(0)
    train, _, _ = splits_of(config)
    loader = DataLoader(train, batch_size=config.batch_size, shuffle=True)
    first = epoch_seconds(loader)
    cached = epoch_seconds(loader)
    batches = list(loader)
    steps = model_seconds(config, batches)
    n = len(train)
    print(f"{args.recipe}: {n} training images at {config.resolved_size()}, batch {config.batch_size}, "
          f"{torch.get_num_threads()} threads")
    print("| pass | seconds | images/s | share of the model's step time |")
    print("|---|---|---|---|")
    for name, sec in (("data, decode + resize + augment (first epoch)", first),
                      ("data, from the cache + augment (later epochs)", cached),
                      ("model: forward + backward + AdamW", steps)):
        print(f"| {name} | {sec:.1f} | {n / sec:,.0f} | {100 * sec / steps:.0f}% |")


if __name__ == "__main__":
    main()
