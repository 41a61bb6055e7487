"""Unpack DAGM 2007 class archives into <root>/dagm/Class<k>, or print how to get them.

DAGM has no pinned checksum: run without arguments for the manual download steps, then pass the archives
you downloaded (--archive, repeatable) or a Zenodo file URL with the MD5 shown on the record page.

Usage: python data_scripts/get_dagm.py [--root DIR] [--archive ZIP ...] [--url URL --md5 MD5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samtl_lite.data.download import get_dagm, run_script


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, unpack the archives (or print the steps), and say where the data lies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="dataset root (default: $SAMTL_DATA_DIR, else ./data)")
    parser.add_argument(
        "--archive", type=Path, action="append", default=[], help="a downloaded Class<k>.zip (repeatable)"
    )
    parser.add_argument("--url", help="download this archive first, e.g. a Zenodo Class<k>.zip URL")
    parser.add_argument("--md5", help="expected MD5 of the archive (required with --url)")
    parser.add_argument("--sha256", help="expected SHA-256 of the archive")
    args = parser.parse_args(argv)
    return run_script(
        "DAGM 2007", get_dagm, args.root, archives=args.archive, url=args.url, md5=args.md5, sha256=args.sha256
    )


if __name__ == "__main__":
    raise SystemExit(main())
