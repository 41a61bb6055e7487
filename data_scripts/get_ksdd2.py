"""Download KolektorSDD2 into <root>/ksdd2/{train,test}, checked against its published MD5.

Usage: python data_scripts/get_ksdd2.py [--root DIR] [--url URL | --archive ZIP] [--md5 MD5] [--sha256 SHA256]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samtl_lite.data.download import KSDD2_MD5, KSDD2_URL, get_ksdd2, run_script


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, fetch and verify the data, and say where it lies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="dataset root (default: $SAMTL_DATA_DIR, else ./data)")
    parser.add_argument("--url", default=KSDD2_URL, help=f"archive URL (default: {KSDD2_URL})")
    parser.add_argument("--archive", type=Path, help="use this already-downloaded zip instead of downloading")
    parser.add_argument("--md5", help=f"expected MD5 instead of the published {KSDD2_MD5}")
    parser.add_argument("--sha256", help="expected SHA-256 (replaces the default MD5 check)")
    args = parser.parse_args(argv)
    md5, sha256 = (args.md5, args.sha256) if args.md5 or args.sha256 else (KSDD2_MD5, None)
    return run_script("KolektorSDD2", get_ksdd2, args.root, url=args.url, archive=args.archive, md5=md5, sha256=sha256)


if __name__ == "__main__":
    raise SystemExit(main())
