"""Regenerate the README's picture: `make figures` (or `python docs/make_figures.py`)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from samtl_lite.viz import synthetic_gallery  # noqa: E402

out = Path(__file__).parent / "gallery.png"
synthetic_gallery(size=128, n_defective=9, n_clean=3).savefig(out, dpi=60)
print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
