"""The package's exceptions: each message names the file at fault and the fix."""


class SamtlError(Exception):
    """Base class of every error samtl_lite raises on purpose (taught in 01_defect_data)."""


class DataError(SamtlError, ValueError):
    """An image, mask or folder that cannot be used as it is (taught in 01_defect_data)."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset is not where the loaders look; names the script that fetches it (taught in 01_defect_data)."""


class DownloadError(SamtlError, RuntimeError):
    """A download or archive that failed its checks: bad checksum, unsafe member (taught in 01_defect_data)."""


class MetricError(SamtlError, ValueError):
    """A metric or threshold that cannot be computed from the data given (taught in 05_metrics)."""


class CheckpointError(SamtlError, RuntimeError):
    """A checkpoint that cannot be used: truncated, unsafe, or from another model (taught in 06_training)."""


class TrainingDiverged(SamtlError, FloatingPointError):
    """The loss became NaN or inf; the last good checkpoint is left as it was (taught in 06_training)."""
