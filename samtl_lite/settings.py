"""Environment switches the notebooks and tests read."""

import os


def fast_mode() -> bool:
    """True when `SAMTL_FAST=1`: notebooks and tests pick the small CPU recipe (taught in 01_defect_data)."""
    return os.environ.get("SAMTL_FAST", "0").strip().lower() not in ("", "0", "false", "no")
