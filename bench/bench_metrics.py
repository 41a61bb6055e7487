"""How long `SegMetrics` takes to evaluate many masks, and how little it keeps.

    python bench/bench_metrics.py [--n 10000] [--size 256] [--batch 64]

Masks are streamed in batches, as an evaluation loop would produce them: predicted probabilities
(float32) and true masks (float32 {0,1}). Prints seconds and the accumulator's memory; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from samtl_lite.metrics import SegMetrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    prob = torch.rand(args.batch, 1, args.size, args.size, generator=g)
    gt = (torch.rand(args.batch, 1, args.size, args.size, generator=g) > 0.999).float()
    scores = torch.rand(args.batch, generator=g)
    for kind, pred in (("float probabilities", prob), ("bool masks", prob >= 0.5)):
        acc = SegMetrics()
        start = time.perf_counter()
        done = 0
        while done < args.n:
            b = min(args.batch, args.n - done)
            acc.update(pred[:b], gt[:b], scores[:b])
            done += b
        result = acc.compute()
        seconds = time.perf_counter() - start
        kept = sum(a.nbytes for a in acc.stats().values()) + acc.scores().nbytes
        print(f"{args.n} masks of {args.size}², {kind}: {seconds:.2f} s "
              f"({args.n / seconds:,.0f} masks/s), accumulator keeps {kept / 1024:.0f} KiB; "
              f"seg_miou {result['seg_miou']:.3f}")
    print(f"torch threads: {torch.get_num_threads()}; numpy {np.__version__}")


if __name__ == "__main__":
    main()
