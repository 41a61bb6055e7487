"""Download the Magnetic Tile defect dataset into <root>/magnetic_tile and verify its files.

Usage: python data_scripts/get_magnetic_tile.py [--root DIR] [--url URL | --archive ZIP] [--digest SHA256]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samtl_lite.data.download import MAGNETIC_TILE_TREE_SHA256, MAGNETIC_TILE_URL, get_magnetic_tile, run_script


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, fetch and verify the data, and say where it lies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="dataset root (default: $SAMTL_DATA_DIR, else ./data)")
    parser.add_argument("--url", default=MAGNETIC_TILE_URL, help="archive URL (default: the pinned commit)")
    parser.add_argument("--archive", type=Path, help="use this already-downloaded zip instead of downloading")
    parser.add_argument(
        "--digest", default=MAGNETIC_TILE_TREE_SHA256, help="expected tree digest of MT_*/Imgs/* (for tests)"
    )
    args = parser.parse_args(argv)
    return run_script(
        "Magnetic Tile", get_magnetic_tile, args.root, url=args.url, archive=args.archive, digest=args.digest
    )


if __name__ == "__main__":
    raise SystemExit(main())
