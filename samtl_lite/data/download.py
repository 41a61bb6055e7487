"""Fetch the four public surface-defect datasets, check them, and unpack them where the loaders look.

Every download is checked against a checksum before it is used, and every archive is checked member by
member before anything is written, because a dataset archive is a file from the internet: it can arrive
truncated, it can change on the server, and it can contain paths that escape the folder it is unpacked
into. The layout produced under the dataset root (``$SAMTL_DATA_DIR``, default ``./data``) is::

    magnetic_tile/MT_<Class>/Imgs/<name>.jpg + <name>.png
    ksdd2/{train,test}/<id>.png + <id>_GT.png
    ksdd/kos01..kos50/Part<k>.jpg + Part<k>_label.bmp
    dagm/Class<k>/{Train,Test}/<name>.PNG + Label/<name>_label.PNG

Downloaded archives are kept in ``<root>/_downloads`` so that a second run does not download them again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path, PureWindowsPath
from typing import Any

from tqdm.auto import tqdm

from samtl_lite.data.io import data_dir
from samtl_lite.errors import DataError, DownloadError

# --- Magnetic Tile -------------------------------------------------------------------------------------
# Source: GitHub repository abin24/Magnetic-tile-defect-datasets. (the trailing dot is part of the name),
# pinned to one commit. GitHub builds archive zips on the fly, so the zip's bytes are not stable: we verify
# the extracted image and mask files instead. MAGNETIC_TILE_TREE_SHA256 is
# tree_digest(root / "magnetic_tile", MAGNETIC_TILE_PATTERN) computed on a verbatim copy of that commit
# (2,688 files: 1,344 .jpg images and 1,344 same-named .png masks).
MAGNETIC_TILE_COMMIT = "cc4eb530b57b9cb7225bf76023873043ffd50655"
MAGNETIC_TILE_URL = (
    f"https://github.com/abin24/Magnetic-tile-defect-datasets./archive/{MAGNETIC_TILE_COMMIT}.zip"
)
MAGNETIC_TILE_CLASSES = ("Blowhole", "Break", "Crack", "Fray", "Free", "Uneven")
MAGNETIC_TILE_PATTERN = "MT_*/Imgs/*"
MAGNETIC_TILE_TREE_SHA256 = "038726ddab8cca0d1003b5ff27b97bbd76ce2a94a331af33b6dbf303086dbcb1"

# --- KolektorSDD2 --------------------------------------------------------------------------------------
# URL: the ViCoS short link used by the authors' own script, vicoslab/mixed-segdec-net-comind2021,
# datasets/KSDD2/download_and_extract.py (official page: https://www.vicos.si/resources/kolektorsdd2/).
# MD5: the checksum published for KolektorSDD2.zip at that URL, as pinned by third-party loaders (a script
# built on anomalib's download_and_extract, and a torchvision-style KSDD2 dataset class); the ViCoS page
# itself could not be checked from here. Licence: CC BY-NC-SA 4.0 (non-commercial).
KSDD2_URL = "https://go.vicos.si/kolektorsdd2"
KSDD2_MD5 = "1ed0f628122776ace4965afa30dfe316"

# --- KolektorSDD ---------------------------------------------------------------------------------------
# URL: the ViCoS short link for KolektorSDD.zip (page https://www.vicos.si/resources/kolektorsdd/).
# ViCoS itself publishes no checksum. This SHA-256 is the one openvinotoolkit/anomalib pins for the same URL
# and file (src/anomalib/data/datamodules/image/kolektor.py, DOWNLOAD_INFO.hashsum); older anomalib releases
# pinned MD5 2b094030343c1cd59df02203ac6c57a0 (src/anomalib/data/kolektor.py). Third-party, so if ViCoS ever
# replaces the file the check fails loudly rather than silently. Licence: CC BY-NC-SA 4.0.
KSDD_URL = "https://go.vicos.si/kolektorsdd"
KSDD_SHA256 = "65dc621693418585de9c4467d1340ea7958a6181816f0dc2883a1e8b61f9d4dc"

# --- DAGM 2007 -----------------------------------------------------------------------------------------
# Official host (HCI Heidelberg) needs an account. Zenodo record 8086136 mirrors Class1.zip..Class10.zip
# without login (URLs of the form used by dataset-ninja/industrial-optical-inspection); Zenodo shows each
# file's MD5 on the record page, but we could not read those values here, so none is pinned: the user passes
# the MD5 from the record page (get_dagm refuses a URL download without a checksum) or a local archive.
DAGM_OFFICIAL_PAGE = (
    "https://hci.iwr.uni-heidelberg.de/content/weakly-supervised-learning-industrial-optical-inspection"
)
DAGM_ZENODO_RECORD = "https://zenodo.org/records/8086136"
DAGM_ZENODO_URL = DAGM_ZENODO_RECORD + "/files/Class{k}.zip?download=1"
DAGM_KAGGLE_PAGE = (
    "https://www.kaggle.com/datasets/mhskjelvareid/dagm-2007-competition-dataset-optical-inspection"
)

_CHUNK = 1 << 20


def _file_hash(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks so a 1 GB archive does not need 1 GB of memory."""
    digest = hashlib.new(algorithm, usedforsecurity=False)  # integrity check, not cryptography
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, md5: str | None, sha256: str | None, *, delete: bool) -> None:
    """Raise DownloadError (deleting the file if asked) unless every given checksum matches."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        actual = _file_hash(path, algorithm)
        if actual != expected.strip().lower():
            if delete:
                path.unlink(missing_ok=True)
            fix = (
                "The file was deleted. Fix: run the download again (it was probably truncated); if it fails "
                "again, the file on the server has changed: fetch it by hand from the official page and "
                "pass its checksum explicitly (--md5/--sha256) once you trust it."
                if delete
                else f"Fix: check that {path.name} is the right file, complete and unmodified; download it "
                "again if in doubt, or pass the checksum you trust with --md5/--sha256."
            )
            raise DownloadError(
                f"{algorithm.upper()} mismatch for {path}: expected {expected}, got {actual}. {fix}"
            )


def _print_unverified(path: Path) -> None:
    """Say plainly that a file was not checked, and print the digest the user can compare by hand."""
    print(
        f"WARNING: no checksum was given, so {path} was NOT verified. Its SHA-256 is "
        f"{_file_hash(path, 'sha256')}; compare it with the one published by the dataset's authors."
    )


def _urlretrieve(url: str, dest: Path) -> None:
    """Download with urllib (handles http, https and file:// URLs), showing a progress bar on a terminal."""
    with tqdm(unit="B", unit_scale=True, desc=dest.name, disable=None) as bar:

        def hook(blocks: int, block_size: int, total: int) -> None:
            if total > 0:
                bar.total = total
            bar.update(blocks * block_size - bar.n)

        urllib.request.urlretrieve(url, dest, reporthook=hook)


def fetch(
    url: str, dest_dir: str | Path, filename: str, md5: str | None = None, sha256: str | None = None
) -> Path:
    """Download ``url`` to ``dest_dir/filename`` and verify its checksum (taught in 01_defect_data).

    The file is written as ``<filename>.part`` and renamed when complete, then hashed with hashlib. On a
    mismatch it is deleted and DownloadError names the file, both digests and the fix. If the file is
    already there with the right checksum it is not downloaded again. (torchvision's ``download_url`` is
    not used: in torchvision 0.29 it fails on ``file://`` URLs, which the tests rely on.)
    """
    dest = Path(dest_dir) / filename
    if dest.is_file():
        if md5 is None and sha256 is None:
            return dest
        try:
            _verify(dest, md5, sha256, delete=True)
            return dest
        except DownloadError:
            print(f"{dest} exists but fails its checksum: downloading it again.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    print(f"Downloading {url} -> {dest}")
    try:
        _urlretrieve(url, part)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"Could not download {url} to {dest}: {err}. Fix: check the URL and your connection, or "
            "download the file by hand and pass it with --archive."
        ) from err
    part.replace(dest)
    _verify(dest, md5, sha256, delete=True)
    return dest


def _refuse(archive: Path, name: str, reason: str) -> DownloadError:
    """The error for an unsafe member: names the archive, the member, why, and the fix."""
    return DownloadError(
        f"Refusing to extract {archive}: member {name!r} {reason}. Nothing was extracted. "
        "Fix: do not use this archive; download it again from the official source."
    )


def _member_target(archive: Path, dest: Path, name: str) -> Path:
    """Where member ``name`` would land under ``dest``; DownloadError if it is absolute or escapes."""
    # PureWindowsPath splits on both / and \ and sees drives ("C:"), so one check covers both systems.
    path = PureWindowsPath(name)
    if path.drive or path.root:
        raise _refuse(archive, name, "has an absolute path")
    if ".." in path.parts:
        raise _refuse(archive, name, "contains '..' and could escape the target folder")
    target = dest.joinpath(*path.parts)
    if not target.resolve().is_relative_to(dest.resolve()):
        raise _refuse(archive, name, "resolves outside the target folder")
    return target


def _zip_members(zf: zipfile.ZipFile) -> Iterator[tuple[zipfile.ZipInfo, str, bool, str | None]]:
    """Yield (member, name, is_dir, reason_to_refuse) per zip entry; unix mode bits reveal symlinks."""
    for info in zf.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)
        reason = None
        if kind == stat.S_IFLNK:
            reason = "is a symbolic link"
        elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            reason = "is a device, pipe or socket"
        yield info, info.filename, info.is_dir(), reason


def _tar_members(tf: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, str, bool, str | None]]:
    """Yield (member, name, is_dir, reason_to_refuse) per tar member; only files and folders pass."""
    for member in tf.getmembers():
        reason = None
        if member.issym():
            reason = "is a symbolic link"
        elif member.islnk():
            reason = "is a hard link"
        elif not (member.isreg() or member.isdir()):
            reason = "is a device, pipe or other special file"
        yield member, member.name, member.isdir(), reason


def safe_extract(archive: str | Path, dest_dir: str | Path) -> list[Path]:
    """Extract a zip or tar(.gz) archive after checking every member (taught in 09_real_data).

    First every member is checked; if one has an absolute path, a ``..`` component, resolves outside
    ``dest_dir``, or is a symlink, hard link or device file, DownloadError names the archive and the member
    and nothing at all is extracted (``dest_dir`` is not even created). Then regular files are copied out
    one by one, so nothing but plain files and folders can appear. Returns the paths of the files written.
    """
    archive, dest = Path(archive), Path(dest_dir)
    try:
        return _extract_checked(archive, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, RuntimeError) as err:
        raise DownloadError(f"{archive} is corrupt or truncated ({err.__class__.__name__}: {err}). Fix: delete it "
                            "and download it again.") from None


def _extract_checked(archive: Path, dest: Path) -> list[Path]:
    if zipfile.is_zipfile(archive):
        arc: zipfile.ZipFile | tarfile.TarFile = zipfile.ZipFile(archive)
        members: Iterator[tuple[Any, str, bool, str | None]] = _zip_members(arc)
    elif tarfile.is_tarfile(archive):
        arc = tarfile.open(archive, "r:*")
        members = _tar_members(arc)
    else:
        raise DownloadError(
            f"{archive} is neither a zip nor a tar archive. Fix: delete it and download it again."
        )
    with arc:
        plan: list[tuple[Any, bool, Path]] = []
        for member, name, is_dir, reason in members:  # pass 1: check everything, write nothing
            if reason is not None:
                raise _refuse(archive, name, reason)
            plan.append((member, is_dir, _member_target(archive, dest, name)))

        written: list[Path] = []
        dest.mkdir(parents=True, exist_ok=True)
        for member, is_dir, target in plan:  # pass 2: write plain folders and files only
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = arc.open(member) if isinstance(arc, zipfile.ZipFile) else arc.extractfile(member)
            assert source is not None  # a regular tar member always has a payload
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
            written.append(target)
    return written


def tree_digest(root: str | Path, pattern: str) -> str:
    """Fingerprint the files matching ``pattern`` under ``root`` with one SHA-256 (taught in 09_real_data).

    The digest is taken over the sorted (relative posix path, SHA-256 of the file's bytes) pairs. Unlike the
    hash of an archive, this depends only on the files' names and bytes, not on their order,
    timestamps or compression, so it can verify data whose archive is rebuilt on every download. Each file
    adds the line ``"<relative posix path>\\t<sha256 of its bytes>\\n"`` in sorted path order.
    """
    root = Path(root)
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.glob(pattern) if p.is_file())
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(f"{rel}\t{_file_hash(path, 'sha256')}\n".encode())
    return digest.hexdigest()


def _find_dirs(top: Path, name_regex: str, max_depth: int = 3) -> list[Path]:
    """Folders at most ``max_depth`` levels under ``top`` whose name matches (matches are not entered)."""
    found: list[Path] = []
    level = [top]
    for _ in range(max_depth):
        children = [c for d in level for c in sorted(d.iterdir()) if c.is_dir()]
        found += [c for c in children if re.fullmatch(name_regex, c.name)]
        level = [c for c in children if not re.fullmatch(name_regex, c.name)]
    return found


def _move_all(moves: Sequence[tuple[Path, Path]]) -> None:
    """Move each (source, destination), after checking that no destination exists yet."""
    for _, dst in moves:
        if dst.exists():
            raise DownloadError(
                f"{dst} already exists, so it was not overwritten. Fix: delete {dst} to install it again."
            )
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dst)


def _staging(root: Path) -> Path:
    """A fresh extraction folder in root/_downloads (same disk as the target, so moves are renames)."""
    downloads = root / "_downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="extract_", dir=downloads))


def get_magnetic_tile(
    root: str | Path | None = None,
    *,
    url: str = MAGNETIC_TILE_URL,
    archive: str | Path | None = None,
    digest: str = MAGNETIC_TILE_TREE_SHA256,
) -> Path:
    """Download Magnetic Tile into ``root/magnetic_tile/MT_<Class>/Imgs`` (taught in 01_defect_data).

    GitHub's archive zip is rebuilt on request and its bytes vary, so the extracted images and masks are
    verified with ``tree_digest(..., "MT_*/Imgs/*")`` against ``digest`` before anything is moved into
    place. ``archive`` uses a zip you already have instead of downloading. Returns the dataset folder.
    """
    root = Path(root) if root is not None else data_dir()
    target = root / "magnetic_tile"
    if any(target.glob("MT_*")):
        actual = tree_digest(target, MAGNETIC_TILE_PATTERN)
        if actual == digest:
            print(f"Magnetic Tile is already in {target} and verified.")
            return target
        raise DownloadError(
            f"{target} exists but its files differ from the pinned commit: tree digest expected {digest}, "
            f"got {actual}. Fix: delete {target} and run data_scripts/get_magnetic_tile.py again."
        )
    downloaded = archive is None
    if archive is None:
        archive = fetch(
            url, root / "_downloads", f"Magnetic-tile-defect-datasets-{MAGNETIC_TILE_COMMIT[:12]}.zip"
        )
    staging = _staging(root)
    try:
        safe_extract(archive, staging)
        class_dirs = {d.name: d for d in _find_dirs(staging, r"MT_\w+")}
        missing = [f"MT_{c}" for c in MAGNETIC_TILE_CLASSES if f"MT_{c}" not in class_dirs]
        if missing or len({d.parent for d in class_dirs.values()}) != 1:
            raise DownloadError(
                f"{archive} does not hold the expected MT_<Class> folders side by side (missing: {missing}). "
                "Fix: delete it and download it again."
            )
        top = next(iter(class_dirs.values())).parent
        actual = tree_digest(top, MAGNETIC_TILE_PATTERN)
        if actual != digest:
            if downloaded:
                Path(archive).unlink(missing_ok=True)
            raise DownloadError(
                f"The files in {archive} do not match the pinned commit {MAGNETIC_TILE_COMMIT}: tree digest "
                f"expected {digest}, got {actual}. "
                + ("The archive was deleted. " if downloaded else "")
                + "Fix: run the download again; if it still fails, the repository content has changed."
            )
        _move_all([(class_dirs[f"MT_{c}"], target / f"MT_{c}") for c in MAGNETIC_TILE_CLASSES])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    n_images = len(list(target.glob("MT_*/Imgs/*.jpg")))
    print(f"Magnetic Tile verified: {n_images} images with masks in {target}")
    return target


def _obtain(
    root: Path, url: str, archive: str | Path | None, filename: str, md5: str | None, sha256: str | None
) -> Path:
    """Return a verified archive: the user's own file if given (never deleted), else a fresh download."""
    if archive is not None:
        archive = Path(archive)
        _verify(archive, md5, sha256, delete=False)
    else:
        archive = fetch(url, root / "_downloads", filename, md5=md5, sha256=sha256)
    if md5 is None and sha256 is None:
        _print_unverified(archive)
    return archive


def get_ksdd2(
    root: str | Path | None = None,
    *,
    url: str = KSDD2_URL,
    archive: str | Path | None = None,
    md5: str | None = KSDD2_MD5,
    sha256: str | None = None,
) -> Path:
    """Download KolektorSDD2 into ``root/ksdd2/{train,test}`` (taught in 09_real_data).

    The zip (about 850 MB) is checked against its published MD5. It holds ``train/`` and ``test/`` with
    ``<id>.png`` images and ``<id>_GT.png`` masks; everything at its top level is moved into place.
    Returns the dataset folder.
    """
    root = Path(root) if root is not None else data_dir()
    target = root / "ksdd2"
    if (target / "train").is_dir() and (target / "test").is_dir():
        print(f"KolektorSDD2 is already in {target}.")
        return target
    archive = _obtain(root, url, archive, "KolektorSDD2.zip", md5, sha256)
    staging = _staging(root)
    try:
        safe_extract(archive, staging)
        tops = [d.parent for d in _find_dirs(staging, "train") if (d.parent / "test").is_dir()]
        if len(tops) != 1:
            raise DownloadError(
                f"{archive} does not hold one train/ and test/ pair. Fix: delete it and download it again."
            )
        _move_all([(child, target / child.name) for child in sorted(tops[0].iterdir())])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"KolektorSDD2 is in {target}")
    return target


def get_ksdd(
    root: str | Path | None = None,
    *,
    url: str = KSDD_URL,
    archive: str | Path | None = None,
    md5: str | None = None,
    sha256: str | None = KSDD_SHA256,
) -> Path:
    """Download KolektorSDD into ``root/ksdd/kos01..kos50`` (taught in 09_real_data).

    ViCoS publishes no checksum for KolektorSDD.zip; the default SHA-256 is the one pinned by the
    anomalib library for the same URL. Pass ``md5=None, sha256=None`` to skip the check: the SHA-256 of
    what was fetched is then printed so you can compare it yourself. Returns the dataset folder.
    """
    root = Path(root) if root is not None else data_dir()
    target = root / "ksdd"
    if any(target.glob("kos[0-9][0-9]")):
        print(f"KolektorSDD is already in {target}.")
        return target
    archive = _obtain(root, url, archive, "KolektorSDD.zip", md5, sha256)
    staging = _staging(root)
    try:
        safe_extract(archive, staging)
        kos_dirs = _find_dirs(staging, r"kos\d\d")
        if not kos_dirs:
            raise DownloadError(f"{archive} holds no kosNN folders. Fix: delete it and download it again.")
        _move_all([(d, target / d.name) for d in kos_dirs])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"KolektorSDD is in {target} ({len(kos_dirs)} kos folders)")
    return target


DAGM_MANUAL_STEPS = """\
DAGM 2007 is not downloaded automatically: samtl_lite pins no checksum for it.
  1. Download one or more of Class1.zip .. Class10.zip from
       - the Zenodo mirror (no login): {zenodo}
         (the record page shows each file's MD5), or
       - the official page (account needed): {official}, or
       - Kaggle (account needed): {kaggle}
  2. Unpack them into place with
       python data_scripts/get_dagm.py --archive Class1.zip [--archive Class2.zip ...]
     or let the script download from Zenodo, giving the MD5 shown on the record page:
       python data_scripts/get_dagm.py --url "{zenodo_url}" --md5 <md5 from the page>
  The data then lies in {target}/Class<k>/{{Train,Test}}/<name>.PNG with masks in Label/<name>_label.PNG.
"""


def get_dagm(
    root: str | Path | None = None,
    *,
    archives: Sequence[str | Path] = (),
    url: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
) -> Path | None:
    """Unpack DAGM 2007 class archives into ``root/dagm/Class<k>`` (taught in 09_real_data).

    With neither ``archives`` nor ``url`` it prints the manual download steps and returns None. A ``url``
    (e.g. a Zenodo ``Class<k>.zip``) is downloaded only with an ``md5`` or ``sha256`` to check; given
    checksums are also checked against each local archive. Every ``Class<k>`` folder holding ``Train`` or
    ``Test`` is moved into place (an archive without one is named after its ``Class<k>`` file name).
    """
    root = Path(root) if root is not None else data_dir()
    target = root / "dagm"
    if not archives and url is None:
        print(
            DAGM_MANUAL_STEPS.format(
                zenodo=DAGM_ZENODO_RECORD,
                official=DAGM_OFFICIAL_PAGE,
                kaggle=DAGM_KAGGLE_PAGE,
                zenodo_url=DAGM_ZENODO_URL.format(k=1),
                target=target,
            )
        )
        return None
    paths = [Path(a) for a in archives]
    for path in paths:
        _verify(path, md5, sha256, delete=False)
    if url is not None:
        if md5 is None and sha256 is None:
            raise DownloadError(
                f"Refusing to download {url} without a checksum: no DAGM checksum is pinned in samtl_lite. "
                f"Fix: pass --md5 with the MD5 shown for that file on {DAGM_ZENODO_RECORD}."
            )
        filename = Path(urllib.parse.urlparse(url).path).name or "dagm.zip"
        paths.append(fetch(url, root / "_downloads", filename, md5=md5, sha256=sha256))
    for path in paths:
        staging = _staging(root)
        try:
            safe_extract(path, staging)
            moves = [
                (d, target / d.name)
                for d in _find_dirs(staging, r"Class\d+")
                if (d / "Train").is_dir() or (d / "Test").is_dir()
            ]
            if not moves:  # archive holds Train/ and Test/ directly: name the class after the archive
                number = re.search(r"Class(\d+)", path.name)
                tops = {d.parent for d in _find_dirs(staging, r"Train|Test")}
                if number is None or len(tops) != 1:
                    raise DownloadError(
                        f"{path} holds no Class<k>/Train or Class<k>/Test folder. Fix: check that it is a "
                        "DAGM 2007 class archive (Class1.zip .. Class10.zip)."
                    )
                moves = [(tops.pop(), target / f"Class{number.group(1)}")]
            _move_all(moves)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        print(f"{path.name}: unpacked {', '.join(dst.name for _, dst in moves)} into {target}")
    return target


def run_script(name: str, get: Any, *args: Any, **kwargs: Any) -> int:
    """What each `data_scripts/get_*.py` does after parsing: call `get`, report, return an exit code
    (taught in 09_real_data)."""
    try:
        target = get(*args, **kwargs)
    except (DownloadError, DataError) as err:
        print(f"samtl: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"samtl: error: {err.filename or name}: {err.strerror or err}. Check the disk space and that the "
              "folder is writable.", file=sys.stderr)
        return 2
    if target is None:
        return 1  # nothing was installed; the manual steps were printed
    print(f"{name} now lies in {Path(target).resolve()}")
    return 0
