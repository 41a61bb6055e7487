"""samtl_lite: sample-centric multi-task learning for surface-defect inspection, one notebook at a time."""

from samtl_lite import data, engine, losses, metrics, models
from samtl_lite.errors import (
    CheckpointError,
    DataError,
    DatasetNotFoundError,
    DownloadError,
    MetricError,
    SamtlError,
    TrainingDiverged,
)
from samtl_lite.settings import fast_mode

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DataError",
    "DatasetNotFoundError",
    "DownloadError",
    "MetricError",
    "SamtlError",
    "TrainingDiverged",
    "__version__",
    "data",
    "engine",
    "fast_mode",
    "losses",
    "metrics",
    "models",
]
