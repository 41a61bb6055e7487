"""Download KolektorSDD into <root>/ksdd/kos01..kos50, checked against a third-party SHA-256.

ViCoS publishes no checksum for KolektorSDD.zip; the default SHA-256 is the one the anomalib library pins
for the same URL. --md5/--sha256 replace it; --no-verify skips the check and prints the SHA-256 instead.

Usage: python data_scripts/get_ksdd.py [--root DIR] [--url URL | --archive ZIP] [--sha256 HEX | --no-verify]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from samtl_lite.data.download import KSDD_SHA256, KSDD_URL, get_ksdd, run_script


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, fetch and verify the data, and say where it lies."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="dataset root (default: $SAMTL_DATA_DIR, else ./data)")
    parser.add_argument("--url", default=KSDD_URL, help=f"archive URL (default: {KSDD_URL})")
    parser.add_argument("--archive", type=Path, help="use this already-downloaded zip instead of downloading")
    parser.add_argument("--md5", help="expected MD5 (replaces the default SHA-256 check)")
    parser.add_argument("--sha256", help=f"expected SHA-256 instead of {KSDD_SHA256}")
    parser.add_argument("--no-verify", action="store_true", help="skip the check; print the SHA-256 instead")
    args = parser.parse_args(argv)
    if args.no_verify:
        md5, sha256 = None, None
    elif args.md5 or args.sha256:
        md5, sha256 = args.md5, args.sha256
    else:
        md5, sha256 = None, KSDD_SHA256
    return run_script("KolektorSDD", get_ksdd, args.root, url=args.url, archive=args.archive, md5=md5, sha256=sha256)


if __name__ == "__main__":
    raise SystemExit(main())
