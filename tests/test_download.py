"""Tests of samtl_lite.data.download: checksums, safe extraction, tree digests, and each dataset's layout.

No network: every "download" is a file:// URL of a tiny fake archive written into tmp_path, named like the
real dataset, so the same code paths as a real download run (urllib, checksum, extraction, moves).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from samtl_lite.data import download
from samtl_lite.data.download import (
    MAGNETIC_TILE_CLASSES,
    MAGNETIC_TILE_COMMIT,
    MAGNETIC_TILE_PATTERN,
    fetch,
    get_dagm,
    get_ksdd,
    get_ksdd2,
    get_magnetic_tile,
    safe_extract,
    tree_digest,
)
from samtl_lite.errors import DownloadError

REPO = Path(__file__).resolve().parents[1]


# --- helpers -------------------------------------------------------------------------------------------


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    """Write a zip holding ``files`` (member name -> bytes)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_targz(path: Path, files: dict[str, bytes]) -> Path:
    """Write a .tar.gz holding ``files`` (member name -> bytes)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> list[Path]:
    """Every path under ``folder``: compared before and after to prove nothing was written."""
    return sorted(folder.rglob("*"))


def load_script(name: str):
    """Import data_scripts/<name>.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "data_scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- fake archives in each dataset's real naming -------------------------------------------------------


@pytest.fixture
def fake_magnetic_tile(tmp_path: Path) -> tuple[Path, str, dict[str, bytes]]:
    """A GitHub-style archive: one top folder, MT_<Class>/Imgs/<name>.jpg + .png, and a README."""
    files = {}
    for i, cls in enumerate(MAGNETIC_TILE_CLASSES):
        files[f"MT_{cls}/Imgs/exp1_num_{100 + i}.jpg"] = bytes([i]) * 20
        files[f"MT_{cls}/Imgs/exp1_num_{100 + i}.png"] = bytes([i, 255]) * 10
    reference = tmp_path / "reference"  # the expected digest comes from a tree built independently
    for rel, data in files.items():
        (reference / rel).parent.mkdir(parents=True, exist_ok=True)
        (reference / rel).write_bytes(data)
    top = f"Magnetic-tile-defect-datasets.-{MAGNETIC_TILE_COMMIT}/"
    members = {top + "README.md": b"readme", **{top + rel: data for rel, data in files.items()}}
    archive = write_zip(tmp_path / f"{MAGNETIC_TILE_COMMIT}.zip", members)
    return archive, tree_digest(reference, MAGNETIC_TILE_PATTERN), files


@pytest.fixture
def fake_ksdd2(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """KolektorSDD2.zip: train/ and test/ with <id>.png + <id>_GT.png, and a split file at the top."""
    files = {
        "train/10000.png": b"img-train",
        "train/10000_GT.png": b"gt-train",
        "test/20000.png": b"img-test",
        "test/20000_GT.png": b"gt-test",
        "split_weakly_0.pyb": b"split",
    }
    return write_zip(tmp_path / "KolektorSDD2.zip", files), files


@pytest.fixture
def fake_ksdd(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """KolektorSDD.zip: kosNN/Part<k>.jpg + Part<k>_label.bmp."""
    files = {
        "kos01/Part0.jpg": b"jpg0",
        "kos01/Part0_label.bmp": b"bmp0",
        "kos02/Part3.jpg": b"jpg3",
        "kos02/Part3_label.bmp": b"bmp3",
    }
    return write_zip(tmp_path / "KolektorSDD.zip", files), files


@pytest.fixture
def fake_dagm(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """Class1.zip: Class1/{Train,Test}/<name>.PNG with Label/<name>_label.PNG."""
    files = {
        "Class1/Train/0576.PNG": b"train-img",
        "Class1/Train/Label/0576_label.PNG": b"train-label",
        "Class1/Train/Label/Labels.txt": b"1\n",
        "Class1/Test/0001.PNG": b"test-img",
    }
    return write_zip(tmp_path / "Class1.zip", files), files


# --- fetch ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_fetch_file_url_with_good_checksum(tmp_path: Path, algorithm: str) -> None:
    source = write_zip(tmp_path / "source.zip", {"a.txt": b"hello"})
    checksum = {"md5": md5_of, "sha256": sha256_of}[algorithm](source)
    got = fetch(source.as_uri(), tmp_path / "dl", "copy.zip", **{algorithm: checksum})
    assert got == tmp_path / "dl" / "copy.zip"
    assert got.read_bytes() == source.read_bytes()
    assert not (tmp_path / "dl" / "copy.zip.part").exists()


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_fetch_wrong_checksum_raises_and_deletes_the_file(tmp_path: Path, algorithm: str) -> None:
    source = write_zip(tmp_path / "source.zip", {"a.txt": b"hello"})
    wrong = "0" * (32 if algorithm == "md5" else 64)
    actual = {"md5": md5_of, "sha256": sha256_of}[algorithm](source)
    with pytest.raises(DownloadError) as err:
        fetch(source.as_uri(), tmp_path / "dl", "copy.zip", **{algorithm: wrong})
    message = str(err.value)
    assert "copy.zip" in message and wrong in message and actual in message and "Fix" in message
    assert list((tmp_path / "dl").iterdir()) == []  # neither the file nor a .part is left


def test_fetch_does_not_download_a_verified_file_again(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "source.zip", {"a.txt": b"hello"})
    md5 = md5_of(source)
    fetch(source.as_uri(), tmp_path / "dl", "copy.zip", md5=md5)
    source.unlink()  # a second download would now fail
    assert fetch(source.as_uri(), tmp_path / "dl", "copy.zip", md5=md5).read_bytes()


def test_fetch_replaces_a_corrupt_existing_file(tmp_path: Path) -> None:
    source = write_zip(tmp_path / "source.zip", {"a.txt": b"hello"})
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "copy.zip").write_bytes(b"truncated")
    got = fetch(source.as_uri(), tmp_path / "dl", "copy.zip", md5=md5_of(source))
    assert got.read_bytes() == source.read_bytes()


def test_fetch_unreachable_url_raises_download_error(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="Could not download"):
        fetch((tmp_path / "missing.zip").as_uri(), tmp_path / "dl", "copy.zip", md5="0" * 32)
    assert not (tmp_path / "dl" / "copy.zip").exists()


# --- safe_extract --------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_zip, write_targz], ids=["zip", "tar.gz"])
def test_safe_extract_normal_archives(tmp_path: Path, writer) -> None:
    files = {"a.txt": b"A", "sub/deeper/b.bin": b"\x00\x01\x02"}
    archive = writer(tmp_path / "good.archive", files)
    written = safe_extract(archive, tmp_path / "out")
    assert sorted(written) == sorted(tmp_path / "out" / name for name in files)
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def _evil_zip(path: Path, name: str, outside: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.txt", b"fine")  # a good member first: it must not be written either
        if name == "symlink":
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # unix, so the mode bits count
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, str(outside))
        else:
            zf.writestr(name, b"evil")


def _evil_tar(path: Path, name: str, outside: Path) -> None:
    with tarfile.open(path, "w:gz") as tf:
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 4
        tf.addfile(ok, io.BytesIO(b"fine"))
        info = tarfile.TarInfo(name)
        if name == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, str(outside)
        elif name == "hardlink":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
        elif name == "device":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
        else:
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
            return
        tf.addfile(info)


@pytest.mark.parametrize(
    ("writer", "name", "reason"),
    [
        (_evil_zip, "../evil.txt", "'..'"),
        (_evil_zip, "..\\evil.txt", "'..'"),
        (_evil_zip, "ABSOLUTE", "absolute"),
        (_evil_zip, "symlink", "symbolic link"),
        (_evil_tar, "../evil.txt", "'..'"),
        (_evil_tar, "ABSOLUTE", "absolute"),
        (_evil_tar, "symlink", "symbolic link"),
        (_evil_tar, "hardlink", "hard link"),
        (_evil_tar, "device", "device"),
    ],
)
def test_safe_extract_refuses_unsafe_members_and_writes_nothing(
    tmp_path: Path, writer, name: str, reason: str
) -> None:
    outside = tmp_path / "outside" / "evil.txt"
    outside.parent.mkdir()
    member = str(outside) if name == "ABSOLUTE" else name
    archive = tmp_path / "evil.archive"
    writer(archive, member, outside)
    before = snapshot(tmp_path)
    with pytest.raises(DownloadError, match=reason) as err:
        safe_extract(archive, tmp_path / "target" / "out")
    assert str(archive) in str(err.value) and repr(member) in str(err.value)
    assert snapshot(tmp_path) == before  # nothing outside, nothing inside (not even the target folder)


def test_safe_extract_refuses_to_write_through_an_existing_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "link").symlink_to(outside)  # e.g. left there by an earlier, unchecked extraction
    archive = write_zip(tmp_path / "a.zip", {"link/evil.txt": b"evil"})
    with pytest.raises(DownloadError, match="resolves outside"):
        safe_extract(archive, dest)
    assert list(outside.iterdir()) == []


def test_safe_extract_rejects_non_archives(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"<html>login required</html>")
    with pytest.raises(DownloadError, match="neither a zip nor a tar"):
        safe_extract(junk, tmp_path / "out")


# --- tree_digest ---------------------------------------------------------------------------------------


def _make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_tree_digest_ignores_creation_order_and_sees_one_byte(tmp_path: Path) -> None:
    files = {"MT_A/Imgs/1.jpg": b"abc", "MT_A/Imgs/1.png": b"def", "MT_B/Imgs/2.jpg": b"ghi"}
    forward = _make_tree(tmp_path / "forward", files)
    backward = _make_tree(tmp_path / "backward", dict(reversed(list(files.items()))))
    (backward / "README.md").write_bytes(b"not matched by the pattern")
    digest = tree_digest(forward, "MT_*/Imgs/*")
    assert len(digest) == 64
    assert tree_digest(backward, "MT_*/Imgs/*") == digest

    (backward / "MT_B/Imgs/2.jpg").write_bytes(b"ghj")  # one byte changed
    assert tree_digest(backward, "MT_*/Imgs/*") != digest
    (backward / "MT_B/Imgs/2.jpg").write_bytes(b"ghi")
    (backward / "MT_B/Imgs/2.jpg").rename(backward / "MT_B/Imgs/3.jpg")  # same bytes, other name
    assert tree_digest(backward, "MT_*/Imgs/*") != digest


def test_tree_digest_follows_its_documented_formula(tmp_path: Path) -> None:
    """sha256 of "<path>\\t<sha256>\\n" lines in sorted path order, so it can be reproduced anywhere."""
    names = [f"MT_{c}/Imgs/{n}.jpg" for c in "QBZA" for n in ("k", "b", "x")]
    root = _make_tree(tmp_path / "t", {name: name.encode() for name in names})
    lines = "".join(f"{n}\t{hashlib.sha256(n.encode()).hexdigest()}\n" for n in sorted(names))
    assert tree_digest(root, "MT_*/Imgs/*") == hashlib.sha256(lines.encode()).hexdigest()


# --- per-dataset functions, end to end -----------------------------------------------------------------


def test_pinned_digest_matches_the_real_magnetic_tile_copy(real_magnetic_tile: Path) -> None:
    """The constant was computed from a verbatim copy of the pinned commit; CI holds that copy."""
    assert tree_digest(real_magnetic_tile, MAGNETIC_TILE_PATTERN) == download.MAGNETIC_TILE_TREE_SHA256
    assert len(list(real_magnetic_tile.glob("MT_*/Imgs/*.jpg"))) == 1344


def test_get_magnetic_tile_end_to_end(tmp_path: Path, fake_magnetic_tile) -> None:
    archive, digest, files = fake_magnetic_tile
    root = tmp_path / "data"
    target = get_magnetic_tile(root, url=archive.as_uri(), digest=digest)
    assert target == root / "magnetic_tile"
    assert sorted(p.name for p in target.iterdir()) == [f"MT_{c}" for c in MAGNETIC_TILE_CLASSES]
    for rel, data in files.items():
        assert (target / rel).read_bytes() == data
    assert not (target / "README.md").exists()
    assert tree_digest(target, MAGNETIC_TILE_PATTERN) == digest
    assert [p.suffix for p in (root / "_downloads").iterdir()] == [".zip"]  # no staging folder left
    # a second run finds verified data and downloads nothing
    assert get_magnetic_tile(root, url=(tmp_path / "gone.zip").as_uri(), digest=digest) == target


def test_get_magnetic_tile_wrong_digest_installs_nothing(tmp_path: Path, fake_magnetic_tile) -> None:
    archive, digest, _ = fake_magnetic_tile
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match=digest):
        get_magnetic_tile(root, url=archive.as_uri(), digest="f" * 64)
    assert not (root / "magnetic_tile").exists()
    assert list((root / "_downloads").iterdir()) == []  # the downloaded zip was deleted


def test_get_magnetic_tile_default_digest_is_the_real_one(tmp_path: Path, fake_magnetic_tile) -> None:
    archive, _, _ = fake_magnetic_tile
    with pytest.raises(DownloadError, match=download.MAGNETIC_TILE_TREE_SHA256):
        get_magnetic_tile(tmp_path / "data", archive=archive)
    assert archive.exists()  # a user's own archive is never deleted


def test_get_ksdd2_end_to_end(tmp_path: Path, fake_ksdd2) -> None:
    archive, files = fake_ksdd2
    root = tmp_path / "data"
    target = get_ksdd2(root, url=archive.as_uri(), md5=md5_of(archive))
    assert target == root / "ksdd2"
    for rel, data in files.items():
        assert (target / rel).read_bytes() == data
    assert get_ksdd2(root, url="file:///nonexistent") == target  # already there: nothing fetched


def test_get_ksdd2_checks_the_published_md5_by_default(tmp_path: Path, fake_ksdd2) -> None:
    archive, _ = fake_ksdd2
    with pytest.raises(DownloadError, match=download.KSDD2_MD5):
        get_ksdd2(tmp_path / "data", url=archive.as_uri())
    assert not (tmp_path / "data" / "ksdd2").exists()


def test_get_ksdd2_uses_samtl_data_dir(tmp_path: Path, fake_ksdd2, monkeypatch) -> None:
    archive, _ = fake_ksdd2
    monkeypatch.setenv("SAMTL_DATA_DIR", str(tmp_path / "env_root"))
    target = get_ksdd2(url=archive.as_uri(), md5=md5_of(archive))
    assert target == tmp_path / "env_root" / "ksdd2"
    assert (target / "train" / "10000_GT.png").is_file()


def test_get_ksdd_end_to_end(tmp_path: Path, fake_ksdd) -> None:
    archive, files = fake_ksdd
    root = tmp_path / "data"
    target = get_ksdd(root, url=archive.as_uri(), sha256=sha256_of(archive))
    assert target == root / "ksdd"
    assert sorted(p.name for p in target.iterdir()) == ["kos01", "kos02"]
    for rel, data in files.items():
        assert (target / rel).read_bytes() == data
    with pytest.raises(DownloadError, match=download.KSDD_SHA256):  # the default check is on
        get_ksdd(tmp_path / "other", url=archive.as_uri())


def test_get_ksdd_without_checksum_prints_the_sha256(tmp_path: Path, fake_ksdd, capsys) -> None:
    archive, _ = fake_ksdd
    target = get_ksdd(tmp_path / "data", archive=archive, md5=None, sha256=None)
    assert (target / "kos01" / "Part0_label.bmp").is_file()
    out = capsys.readouterr().out
    assert "NOT verified" in out and sha256_of(archive) in out


def test_get_dagm_end_to_end_from_url_and_archives(tmp_path: Path, fake_dagm) -> None:
    archive, files = fake_dagm
    root = tmp_path / "data"
    target = get_dagm(root, url=archive.as_uri(), md5=md5_of(archive))
    assert target == root / "dagm"
    for rel, data in files.items():
        assert (target / rel).read_bytes() == data
    assert (root / "_downloads" / "Class1.zip").is_file()

    # a class archive without a top folder, and a Kaggle-style one with an extra level
    bare = write_zip(tmp_path / "Class2.zip", {"Train/0002.PNG": b"x", "Train/Label/0002_label.PNG": b"y"})
    kaggle = write_zip(tmp_path / "archive.zip", {"DAGM_KaggleUpload/Class3/Test/0003.PNG": b"z"})
    get_dagm(root, archives=[bare, kaggle])
    assert (target / "Class2" / "Train" / "Label" / "0002_label.PNG").read_bytes() == b"y"
    assert (target / "Class3" / "Test" / "0003.PNG").read_bytes() == b"z"
    with pytest.raises(DownloadError, match="already exists"):
        get_dagm(root, archives=[bare])


def test_get_dagm_without_input_prints_the_manual_steps(tmp_path: Path, capsys) -> None:
    assert get_dagm(tmp_path / "data") is None
    out = capsys.readouterr().out
    assert download.DAGM_ZENODO_RECORD in out and "--archive" in out and str(tmp_path / "data") in out
    assert not (tmp_path / "data").exists()


def test_get_dagm_refuses_a_url_without_checksum(tmp_path: Path, fake_dagm) -> None:
    archive, _ = fake_dagm
    with pytest.raises(DownloadError, match="without a checksum"):
        get_dagm(tmp_path / "data", url=archive.as_uri())


# --- the data_scripts ----------------------------------------------------------------------------------


def test_scripts_install_and_say_where(
    tmp_path: Path, fake_magnetic_tile, fake_ksdd2, fake_ksdd, fake_dagm, capsys
) -> None:
    root = str(tmp_path / "data")
    mt, digest, _ = fake_magnetic_tile
    runs = {
        "get_magnetic_tile": ["--url", mt.as_uri(), "--digest", digest],
        "get_ksdd2": ["--url", fake_ksdd2[0].as_uri(), "--md5", md5_of(fake_ksdd2[0])],
        "get_ksdd": ["--archive", str(fake_ksdd[0]), "--sha256", sha256_of(fake_ksdd[0])],
        "get_dagm": ["--archive", str(fake_dagm[0])],
    }
    for script, args in runs.items():
        module = load_script(script)
        assert module.__doc__ and "Usage: python data_scripts/" in module.__doc__
        assert module.main(["--root", root, *args]) == 0, script
        assert "now lies in" in capsys.readouterr().out
    for folder in ("magnetic_tile/MT_Free/Imgs", "ksdd2/test", "ksdd/kos02", "dagm/Class1/Train/Label"):
        assert (tmp_path / "data" / folder).is_dir(), folder


def test_scripts_report_errors_without_traceback(tmp_path: Path, fake_ksdd2, capsys) -> None:
    module = load_script("get_ksdd2")
    assert module.main(["--root", str(tmp_path), "--url", fake_ksdd2[0].as_uri()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("samtl: error:") and "MD5 mismatch" in err and "Traceback" not in err
    assert load_script("get_dagm").main(["--root", str(tmp_path)]) == 1  # only the steps were printed


def test_corrupt_archive_is_a_clean_error(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/a.txt", "x" * 5000)
    whole = buf.getvalue()
    broken = bytearray(whole)
    broken[40:60] = b"\0" * 20  # the member's compressed bytes, inside an intact directory
    (tmp_path / "bad.zip").write_bytes(bytes(broken))
    with pytest.raises(DownloadError, match=r"bad\.zip is corrupt or truncated.*download it again"):
        safe_extract(tmp_path / "bad.zip", tmp_path / "out")
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as tf:
        info = tarfile.TarInfo("data/b.txt")
        info.size = 5000
        tf.addfile(info, io.BytesIO(b"y" * 5000))
    (tmp_path / "cut.tar.gz").write_bytes(tar.getvalue()[:-30])
    with pytest.raises(DownloadError, match=r"cut\.tar\.gz is (corrupt or truncated|neither a zip nor a tar)"):
        safe_extract(tmp_path / "cut.tar.gz", tmp_path / "out2")
