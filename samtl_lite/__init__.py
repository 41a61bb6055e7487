"""samtl_lite: sample-centric multi-task learning for surface-defect inspection, one notebook at a time."""

import os

from samtl_lite.errors import DataError, DatasetNotFoundError, DownloadError, SamtlError

__version__ = "0.1.0"


def fast_mode() -> bool:
    """True when `SAMTL_FAST=1`: notebooks and tests pick the small CPU recipe (taught in 01_defect_data)."""
    return os.environ.get("SAMTL_FAST", "0").strip().lower() not in ("", "0", "false", "no")


__all__ = ["DataError", "DatasetNotFoundError", "DownloadError", "SamtlError", "__version__", "fast_mode"]
