"""samtl_lite: sample-centric multi-task learning for surface-defect inspection, one notebook at a time."""

from samtl_lite import data, losses, metrics, models
from samtl_lite.errors import DataError, DatasetNotFoundError, DownloadError, MetricError, SamtlError
from samtl_lite.settings import fast_mode

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DatasetNotFoundError",
    "DownloadError",
    "MetricError",
    "SamtlError",
    "__version__",
    "data",
    "fast_mode",
    "losses",
    "metrics",
    "models",
]
