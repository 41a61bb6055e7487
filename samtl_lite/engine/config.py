"""Everything that defines a training run, in one serialisable place.

Taught in 06_training. A `TrainConfig` names the data and how it is read (size, resize mode,
channels, split), the model, the loss, the optimisation and how thresholds are chosen. It is saved
in every checkpoint and in `config.json`, so a model carries the recipe it needs to be used again.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from samtl_lite.data.transforms import augmentation_name
from samtl_lite.errors import DataError

MODEL_KEYS = ("model", "encoder", "decoder", "in_channels", "normalize", "lighting_pad", "detach_input", "use_mask")
# Fields a resumed run may change: they alter neither the network nor the data nor the optimisation
# already done. `epochs` may grow: the cosine schedule is then stretched over the new total.
RESUMABLE_KEYS = ("epochs", "device", "num_workers", "threads")
PREPROCESS_KEYS = ("size", "resize", "in_channels", "normalize", "lighting_pad")


@dataclass
class TrainConfig:
    """A training recipe (taught in 06_training). `samtl_lite.engine.recipe(NAME)` gives the named ones."""

    # data and how each image becomes a tensor
    data: str = "synthetic"  # a name from samtl_lite.data.catalog.DATASETS
    size: int | list[int] | None = None  # side, or [H, W]; None: 128 for synthetic, 256 for real data
    resize: str = "stretch"  # "stretch" to size x size, or "pad": keep the aspect ratio, zero-pad
    normalize: str = "per-image"  # the model standardises each image; "flatten": and reads it without its lighting
    lighting_pad: str = "mirror"  # "flatten": how the lighting estimate pads the border, "mirror" or "reflect"
    images: str | None = None  # --data folder: images folder
    masks: str | None = None  # --data folder: masks folder
    mask_suffix: str = ""
    missing_mask: str = "error"
    mask_threshold: float | None = None  # mask files: defect where value >= this (None: any non-zero)
    group: str | None = None  # --data folder: regex on the file name giving the physical part
    split_csv: str | None = None  # --data folder: CSV of file,split
    split_seed: int = 0  # the split is part of the benchmark: training seeds do not move it
    n_train: int | None = None  # synthetic only
    n_eval: int | None = None  # synthetic only
    # model
    model: str = "mtl"  # "mtl", "seg-only" or "cls-only"
    encoder: str = "tiny"
    decoder: str = "unet"
    in_channels: int = 1
    detach_input: bool = False  # ablation: the sample head sends no gradient into the encoder
    use_mask: bool = False  # the sample head also pools the mask logits
    # loss
    seg_loss: str = "bce+dice"
    cls_loss: str = "bce"
    w_seg: float | None = None  # None: the variant's weights (0.5/0.5, 0.5/0, 0/0.5)
    w_cls: float | None = None
    pos_weight: float | None = None
    loss_schedule: str = "constant"  # mtl: "constant" weights, "dynamic" (SegDecNet++) or learned "uncertainty"
    distance_weighting: bool = False  # defect pixels weigh by their distance to the defect's edge
    # optimisation
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05  # share of all steps spent warming the learning rate up
    grad_clip: float = 1.0
    ema: float | None = None  # decay of an exponential moving average of the weights, kept and evaluated; None: off
    balanced: bool = True  # half of each batch defective, on average
    augment: str = "light"  # "none", "light" (flips, brightness/contrast) or "strong" (see data.transforms)
    channels_last: bool = True
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    compile: bool = False  # torch.compile the model (pays on GPU, not on CPU)
    device: str = "auto"
    num_workers: int | None = None  # DataLoader workers; None: 0 on CPU, up to 8 on CUDA
    threads: int | None = None  # torch CPU threads; None: the cores this process may use
    seed: int = 0  # weights, sampling, augmentation and dropout all derive from it
    # decisions
    max_fpr: float | None = None  # None: score threshold at max F1 on validation; else at this false-alarm rate
    monitor: str = "joint"  # what picks best.pt: "joint" (sample AP and mask), "ap", or "loss"

    def __post_init__(self) -> None:
        self.augment = augmentation_name(self.augment)  # configs written before the names said true/false
        # the run's config.json must name the same files from any folder: `samtl evaluate` run elsewhere would
        # otherwise read another folder of the same relative name, or none
        self.images, self.masks, self.split_csv = (str(Path(p).expanduser().resolve()) if p else p
                                                   for p in (self.images, self.masks, self.split_csv))

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

    def preprocess(self) -> dict[str, Any]:
        """How an image must be prepared for this model: size, resize mode, channels, normalisation."""
        return {k: getattr(self, k) for k in PREPROCESS_KEYS}

    def resolved_size(self) -> int | tuple[int, int]:
        """`size`, or the dataset's default side when it is None."""
        if self.size is None:
            return 128 if self.data == "synthetic" else 256
        return self.size if isinstance(self.size, int) else (int(self.size[0]), int(self.size[1]))


def pick_device(name: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU; or the device named, if this machine has it (taught in 06_training)."""
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise DataError(f"--device {name!r} is not a device name: use auto, cpu, cuda, cuda:N or mps") from None
        mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        there = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": mps}.get(device.type, True)
        if device.type == "cuda" and there and device.index is not None:
            there = device.index < torch.cuda.device_count()
        if not there:
            raise DataError(f"--device {name}: PyTorch {torch.__version__} sees no such device on this machine; "
                            "use --device auto (the best device here) or cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def default_threads() -> int:
    """CPU threads for this process: `OMP_NUM_THREADS` when set, else its usable cores shared among the
    processes of a `torchrun` job (taught in 06_training).

    Two processes with two threads each on two cores run several times slower than with one each
    (OpenMP threads spin while they wait), so the cores are divided, never oversubscribed."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cores // local)
