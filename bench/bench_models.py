"""Training throughput of each encoder: forward + backward + AdamW step, batch 8, MTL loss.

    python bench/bench_models.py                       # every encoder, 128² and 256², eager vs channels_last
    python bench/bench_models.py --encoders tiny --sizes 128
    python bench/bench_models.py --smp                 # also segmentation_models_pytorch Unet("resnet18")

On CUDA it runs under bf16 autocast. `--smp` needs segmentation_models_pytorch importable; it is not a
dependency of samtl_lite, so install it somewhere throw-away, e.g.
`pip install --target /tmp/smp-site --no-deps segmentation-models-pytorch timm safetensors "huggingface_hub<1"`
and run with `PYTHONPATH=/tmp/smp-site`. Prints one line per configuration; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from samtl_lite.models import ENCODERS, Output, build_model


class SmpUnet(nn.Module):
    """smp's Unet with an aux classification head, returning our named output."""

    def __init__(self) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        self.net = smp.Unet("resnet18", encoder_weights=None, in_channels=1, classes=1, aux_params={"classes": 1})

    def forward(self, x: torch.Tensor) -> Output:
        mask, label = self.net(x)
        return Output(mask, label.squeeze(1))


def images_per_second(model: nn.Module, size: int, channels_last: bool, device: str, batch: int, seconds: float):
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, size, size, device=device)
    y = (torch.rand(batch, 1, size, size, device=device) > 0.995).float()
    t = torch.randint(0, 2, (batch,), device=device).float()
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            out = model(x)
            loss = 0.5 * F.binary_cross_entropy_with_logits(out.mask_logits.float(), y)
            loss = loss + 0.5 * F.binary_cross_entropy_with_logits(out.cls_logits.float(), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):  # warm-up: allocator, cuDNN autotune
        step()
    sync()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 3:
        step()
        steps += 1
        sync()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per configuration")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smp", action="store_true", help="also time smp Unet('resnet18', aux_params=...)")
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch}; MTL loss; AdamW")
    print(f"{'model':<32} {'size':>5} {'eager':>12} {'channels_last':>14}")
    models = {f"samtl mtl {e}+unet": (lambda e=e: build_model("mtl", e)) for e in args.encoders}
    if args.smp:
        models["smp Unet('resnet18') + aux"] = SmpUnet
    for label, make in models.items():
        for size in args.sizes:
            rates = []
            for cl in (False, True):
                torch.manual_seed(0)
                rates.append(images_per_second(make(), size, cl, args.device, args.batch, args.seconds))
            print(f"{label:<32} {size:>5} {rates[0]:>8.1f} im/s {rates[1]:>10.1f} im/s", flush=True)


if __name__ == "__main__":
    main()
