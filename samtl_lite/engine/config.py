"""Everything that defines a training run, in one serialisable place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

MODEL_KEYS = ("model", "encoder", "decoder", "in_channels", "detach_input", "use_mask")


@dataclass
class TrainConfig:
    """A training recipe (taught in 06_training). `recipe("cpu")` and `recipe("gpu")` give the defaults."""

    model: str = "mtl"  # "mtl", "seg-only" or "cls-only"
    encoder: str = "tiny"
    decoder: str = "unet"
    in_channels: int = 1
    detach_input: bool = False  # ablation: the sample head sends no gradient into the encoder
    use_mask: bool = False  # the sample head also pools the mask logits
    seg_loss: str = "bce+dice"
    cls_loss: str = "bce"
    w_seg: float | None = None  # None: the variant's weights (0.5/0.5, 0.5/0, 0/0.5)
    w_cls: float | None = None
    pos_weight: float | None = None
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05  # share of all steps spent warming the learning rate up
    grad_clip: float = 1.0
    balanced: bool = True  # half of each batch defective, on average
    augment: bool = True
    channels_last: bool = True
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    device: str = "auto"
    num_workers: int = 0
    seed: int = 0
    monitor: str = "ap"  # validation metric that picks best.pt (higher is better)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def model_signature(self) -> dict[str, Any]:
        """The fields that decide the network's shape: a checkpoint only loads into an equal signature."""
        return {k: getattr(self, k) for k in MODEL_KEYS}


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU; or the device named (taught in 06_training)."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
