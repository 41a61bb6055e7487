"""Bad input, faults and untrusted files: each case gets a clear error or a documented handling.

docs/reliability.md lists the cases and points to the test for each.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import square_mask, write_gray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from samtl_lite import CheckpointError, DataError
from samtl_lite.cli import main
from samtl_lite.data import ImageMaskFolder, MagneticTile, SyntheticDefects, load_image, load_mask
from samtl_lite.engine import (
    TrainConfig,
    build_from_config,
    fit,
    load_checkpoint,
    load_model,
    loop,
    predict_images,
    save_checkpoint,
    train_and_evaluate,
)
from samtl_lite.engine.evaluate import Predictions, false_alarm_notes, thresholds_on
from samtl_lite.engine.modelio import check_compatible
from samtl_lite.metrics import pixel_miou, seg_accuracy, seg_miou, seg_recall
from samtl_lite.models import build_model


def test_image_smaller_than_the_encoder_stride():
    model = build_model("mtl").eval()
    out = model(torch.rand(1, 1, 5, 7))  # total stride 16: padded inside, cropped back
    assert out.mask_logits.shape == (1, 1, 5, 7) and torch.isfinite(out.mask_logits).all()
    flat = model(torch.full((1, 1, 9, 9), 0.5))  # a constant image: standardising must not divide by 0
    assert torch.isfinite(flat.cls_logits).all()


def test_magnetic_tile_image_without_its_mask(tmp_path):
    write_gray(tmp_path / "MT_Crack" / "Imgs" / "exp1_num_1.jpg", np.zeros((20, 20)))
    with pytest.raises(DataError, match="exp1_num_1.jpg: its mask exp1_num_1.png is missing"):
        MagneticTile(tmp_path)


def test_dataloader_worker_reports_the_bad_file(tmp_path):
    for name in ("a", "b"):
        write_gray(tmp_path / "i" / f"{name}.png", np.random.default_rng(0).integers(0, 255, (64, 64)))
        write_gray(tmp_path / "m" / f"{name}.png", square_mask(64, 64, None))
    bad = tmp_path / "i" / "b.png"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # the header intact, half the pixel data gone
    loader = DataLoader(ImageMaskFolder(tmp_path / "i", tmp_path / "m"), batch_size=1, num_workers=1)
    with pytest.raises(DataError, match=r"b\.png.*corrupt"):
        list(loader)


def test_validation_without_defects_falls_back_with_a_note(capsys):
    val = Predictions(np.arange(4), np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]))
    assert thresholds_on(val) == {"score": 0.5, "rule": "fallback 0.5"}
    assert "no defective sample" in capsys.readouterr().out


SAVER = """
import sys, torch
from samtl_lite.engine.checkpoint import save_checkpoint
path = sys.argv[1]
for i in range(1000):
    save_checkpoint(path, {"model": {"w": torch.full((6_000_000,), float(i))}, "config": {"i": i}})
    print(i, flush=True)
"""


def test_kill_during_save_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "0"  # the first checkpoint is complete
        time.sleep(0.15)  # somewhere inside a later save (each writes 24 MB)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    state = load_checkpoint(path)
    i = state["config"]["i"]
    assert torch.equal(state["model"]["w"], torch.full((6_000_000,), float(i)))


masks_strategy = st.integers(1, 6).flatmap(
    lambda n: st.tuples(
        st.lists(st.lists(st.booleans(), min_size=16, max_size=16), min_size=n, max_size=n),
        st.lists(st.lists(st.booleans(), min_size=16, max_size=16), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masks_strategy, st.integers(1, 5))
def test_metric_invariants_on_random_masks(pair, n_extra):
    pred = torch.tensor(pair[0]).view(-1, 4, 4)
    gt = torch.tensor(pair[1]).view(-1, 4, 4)
    values = [seg_miou(pred, gt), seg_recall(pred, gt), seg_accuracy(pred, gt), pixel_miou(pred, gt)]
    assert all(np.isnan(v) or 0.0 <= v <= 1.0 for v in values)
    empty = torch.zeros(n_extra, 4, 4, dtype=torch.bool)
    more_pred, more_gt = torch.cat([pred, empty]), torch.cat([gt, empty])
    for fn in (seg_miou, seg_recall):
        a, b = fn(pred, gt), fn(more_pred, more_gt)
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b)
    assert pixel_miou(more_pred, more_gt) >= pixel_miou(pred, gt) - 1e-12
    if torch.equal(pred, gt):
        assert seg_accuracy(pred, gt) == 1.0 and (np.isnan(seg_miou(pred, gt)) or seg_miou(pred, gt) == 1.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM"]))
def test_decoding_random_bytes_gives_only_the_package_error(tmp_path, payload, header):
    path = tmp_path / "fuzz.png"
    path.write_bytes(header + payload)
    for load in (load_image, load_mask):
        try:
            out = load(path)
        except DataError as err:
            assert "fuzz.png" in str(err)
        else:  # a few byte strings are valid tiny images: then the result must be well-formed
            assert out.dim() == 3 and torch.isfinite(out).all()


# ---- runs that can always finish, work never lost (docs/reliability.md, "Interrupted runs") ----


TINY_RUN = TrainConfig(epochs=3, batch_size=8, lr=3e-3)


def tiny_sets():
    return SyntheticDefects(n=32, size=32, seed=0, defect_rate=0.5), SyntheticDefects(n=16, size=32, seed=9)


def test_validation_without_defective_samples_still_keeps_a_model(tmp_path, capsys):
    train, _ = tiny_sets()
    clean_val = SyntheticDefects(n=12, size=32, seed=5, defect_rate=0.0)
    history = fit(build_from_config(TINY_RUN), train, clean_val, TINY_RUN, tmp_path, progress=False)
    assert (tmp_path / "best.pt").is_file() and any(h["kept"] for h in history)
    kept = [h for h in history if h["kept"]][-1]
    assert kept["val_loss"] == min(h["val_loss"] for h in history)  # the loss decided
    assert "lowest validation loss" in loop.kept_epoch(history, "joint")


def test_kill_between_best_and_last_resumes_to_the_same_model(tmp_path, monkeypatch):
    train, val = tiny_sets()
    torch.manual_seed(0)
    full = build_from_config(TINY_RUN)
    fit(full, train, val, TINY_RUN, tmp_path / "full", progress=False)
    real_save = loop.save_checkpoint

    def die_before_last(path, state):
        if path.name == "last.pt" and state["epoch"] == 1:
            raise KeyboardInterrupt  # best.pt of epoch 2 may be written, last.pt of epoch 2 is not
        real_save(path, state)

    monkeypatch.setattr(loop, "save_checkpoint", die_before_last)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(build_from_config(TINY_RUN), train, val, TINY_RUN, tmp_path / "cut", progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    (tmp_path / "cut" / ".last.pt.abc.tmp").write_bytes(b"half a checkpoint")  # what a kill mid-save leaves
    resumed = build_from_config(TINY_RUN)
    fit(resumed, train, val, TINY_RUN, tmp_path / "cut", resume=True, progress=False)
    assert not list((tmp_path / "cut").glob("*.tmp")) and not list((tmp_path / "cut").glob(".*.tmp"))
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    for name in ("best.pt", "last.pt"):
        a, b = (load_checkpoint(tmp_path / r / name) for r in ("full", "cut"))
        assert a["epoch"] == b["epoch"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_checkpoints_that_do_not_describe_a_model(tmp_path):
    train, val = tiny_sets()
    cfg = TrainConfig(epochs=1, batch_size=8)
    fit(build_from_config(cfg), train, val, cfg, tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "best.pt")
    cases = {"encoder.pt": {**state, "config": {**state["config"], "encoder": "no-such-net"}},
             "config.pt": {**state, "config": [1, 2]},
             "weights.pt": {**state, "model": {"w": torch.zeros(2)}},
             "list.pt": {**state, "model": [torch.zeros(2)]}}
    for name, bad in cases.items():
        save_checkpoint(tmp_path / name, bad)
        with pytest.raises(CheckpointError, match=f"{name}: its weights and config"):
            load_model(tmp_path / name)
    torch.save([1, 2, 3], tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="plain.pt: not a samtl_lite checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_predict_on_folders_without_images_says_which_and_why(tmp_path, capsys):
    empty, other = tmp_path / "empty", tmp_path / "other"
    empty.mkdir(), other.mkdir()
    (other / "notes.txt").write_text("not an image")
    assert main(["predict", "--checkpoint", str(tmp_path / "unused.pt"), str(empty), str(other), "--out",
                 str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"samtl: error: {empty}, {other}: no images (files ending .png, .jpg, .jpeg, " \
        ".bmp, .tif, .tiff) in these folders. Check the paths, or convert the images to one of those formats.\n"
    assert not (tmp_path / "out").exists()


def test_predict_never_overwrites(tmp_path, capsys):
    train, val = tiny_sets()
    cfg = TrainConfig(epochs=1, batch_size=8, size=32)
    fit(build_from_config(cfg), train, val, cfg, tmp_path / "run", progress=False)
    for folder in ("a", "b"):
        write_gray(tmp_path / folder / "part.png", np.full((20, 30), 100 if folder == "a" else 200))
    write_gray(tmp_path / "a" / "part.jpg", np.zeros((20, 30)))
    inputs = [tmp_path / "a" / "part.png", tmp_path / "b" / "part.png", tmp_path / "a" / "part.jpg"]
    predict_images(tmp_path / "run" / "best.pt", inputs, tmp_path / "out")
    masks = sorted(p.name for p in (tmp_path / "out").glob("*_mask.png"))
    assert len(masks) == 3  # three inputs, three masks: no name was reused
    assert main(["predict", "--checkpoint", str(tmp_path / "run" / "best.pt"), str(inputs[0]),
                 "--out", str(tmp_path / "out")]) == 2
    assert "already holds predictions" in capsys.readouterr().err


def test_a_users_own_files_are_never_replaced(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    (mine / "results.csv").write_text("mine\n")
    args = ["train", "--n-train", "16", "--n-eval", "8", "--size", "16", "--epochs", "1", "--no-progress"]
    assert main([*args, "--out", str(mine), "--overwrite"]) == 2
    assert "not a samtl run" in capsys.readouterr().err
    assert (mine / "config.json").read_text() == '{"my": "settings"}' and (mine / "results.csv").read_text() == "mine\n"
    (tmp_path / "file").write_text("x")
    assert main([*args, "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


# ---- one error path: a clean error or success, never a traceback, never a changed input ----

NUMBER = st.one_of(st.integers(-2, 40).map(str), st.sampled_from(["0", "1e9", "nan", "-inf", "abc", "0.5", ""]))


def snapshot(root):
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and "out" not in p.relative_to(root).parts}


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    for i in range(4):
        write_gray(root / "images" / f"{i}.png", np.full((24, 24), 40 * i))
        write_gray(root / "masks" / f"{i}.png", square_mask(24, 24, (2, 2, 8, 8) if i % 2 else None))
    assert main(["train", "--n-train", "8", "--n-eval", "6", "--size", "16", "--epochs", "1", "--no-progress",
                 "--out", str(root / "run")]) == 0
    return root


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_cli_fuzz_gives_a_clean_error_or_success(fuzz_root, capsys, data):
    root = fuzz_root
    corrupt = data.draw(st.binary(max_size=64))
    kind = data.draw(st.sampled_from(["train", "evaluate", "predict", "info", "synth"]))
    out = root / "out" / str(data.draw(st.integers(0, 10**9)))
    if kind == "train":
        opts = {o: data.draw(NUMBER) for o in data.draw(st.sets(st.sampled_from(
            ["--epochs", "--batch-size", "--size", "--lr", "--n-train", "--n-eval", "--threads", "--max-fpr",
             "--workers", "--w-seg"]), max_size=4))}
        opts = {"--epochs": "1", "--n-train": "6", "--n-eval": "4", "--size": "16", **opts}
        argv = ["train", *[x for kv in opts.items() for x in kv], "--no-progress", "--out", str(out)]
    elif kind == "evaluate":
        bad = root / "out" / "bad.pt"
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(data.draw(st.sampled_from([b"", (root / "run" / "best.pt").read_bytes()[:200], corrupt])))
        argv = ["evaluate", "--checkpoint", str(data.draw(st.sampled_from([bad, root / "run" / "best.pt"]))),
                "--min-area", data.draw(NUMBER), "--no-progress", "--out", str(out)]
    elif kind == "predict":
        img = root / "out" / "in" / data.draw(st.sampled_from(["x.png", "x.jpg", "x.tif"]))
        img.parent.mkdir(parents=True, exist_ok=True)
        img.write_bytes(data.draw(st.sampled_from([corrupt, b"\x89PNG\r\n\x1a\n" + corrupt,
                                                   (root / "images" / "1.png").read_bytes()])))
        argv = ["predict", "--checkpoint", str(root / "run" / "best.pt"), str(img), "--out", str(out),
                "--score-threshold", data.draw(NUMBER)]
    elif kind == "info":
        argv = ["data", "info", "folder", "--images", str(root / "images"), "--masks",
                str(data.draw(st.sampled_from([root / "masks", root / "images", root / "nowhere"])))]
    else:
        argv = ["data", "synth", "--out", str(out), "--n", data.draw(NUMBER), "--size", data.draw(NUMBER)]
    before = snapshot(root)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses an option value
        code = exit_.code
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, err)
    assert "Traceback" not in err
    if code == 2:
        assert "samtl: error:" in err
    assert snapshot(root) == before, argv  # nothing but the output folder changed


def test_decisions_that_flag_most_clean_samples_get_a_note():
    m = {"ap": 0.31, "fp": 139, "tn": 4, "seg_fp": 2, "seg_tn": 141, "seg_miou": 0.05}
    (note,) = false_alarm_notes(m)
    assert note.startswith("the sample head's decisions flag 139 of 143 clean test samples (AP 0.310)")
    assert false_alarm_notes({**m, "fp": 71, "tn": 72}) == []  # 71 of 143: under half
    (note,) = false_alarm_notes({**m, "fp": 0, "tn": 143, "seg_fp": 72, "seg_tn": 71}, "val")
    assert "mask's decisions flag 72 of 143 clean val samples (Seg_mIoU 0.050)" in note
    assert false_alarm_notes({"ap": 0.5, "fp": 3, "tn": 0}) != []  # every clean sample flagged
    assert false_alarm_notes({"ap": 0.5, "fp": 0, "tn": 0}) == []  # no clean sample: nothing to say


def file_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_predict_never_replaces_a_users_files_nor_writes_into_its_inputs(tmp_path, capsys):
    train, val = tiny_sets()
    cfg = TrainConfig(epochs=1, batch_size=8, size=32)
    fit(build_from_config(cfg), train, val, cfg, tmp_path / "run", progress=False)
    best = str(tmp_path / "run" / "best.pt")
    gt = tmp_path / "gt"
    for i in range(2):
        write_gray(gt / "images" / f"p00{i}.png", np.full((20, 30), 60 * i))
        write_gray(gt / "masks" / f"p00{i}_mask.png", square_mask(20, 30, (2, 2, 6, 6)))
    before = file_bytes(gt)
    for extra in ([], ["--overwrite"]):  # ground-truth masks are not earlier predictions: --overwrite does not help
        assert main(["predict", "--checkpoint", best, "--out", str(gt / "masks"), str(gt / "images" / "p000.png"),
                     *extra]) == 2
        assert capsys.readouterr().err == f"samtl: error: {gt / 'masks'} holds files that this predict would replace " \
            "(p000_mask.png) and that no earlier predict wrote (there is no predictions.csv). Choose another --out " \
            "folder: nothing was written.\n"
    for source in (gt / "images", gt / "images" / "p001.png"):  # --out is the input folder, or holds an input
        assert main(["predict", "--checkpoint", best, "--out", str(gt / "images"), str(source), "--overwrite"]) == 2
        assert capsys.readouterr().err == f"samtl: error: {gt / 'images'} is an input folder: the masks and " \
            "overlays written there would be read as images by the next predict on it. Choose another --out " \
            "folder: nothing was written.\n"
    assert file_bytes(gt) == before  # byte for byte, and no file added

    pred = tmp_path / "pred"
    predict_images(best, [gt / "images"], pred)
    (pred / "notes.txt").write_text("my notes")
    first = file_bytes(pred)
    with pytest.raises(DataError, match=r"already holds predictions \(p000_mask.png, p000_overlay.png, "
                                        r"predictions.csv\). Pass --overwrite"):
        predict_images(best, [gt / "images" / "p000.png"], pred)
    assert file_bytes(pred) == first
    predict_images(best, [gt / "images" / "p000.png"], pred, overrides={"score": 0.0}, overwrite=True)
    again = file_bytes(pred)
    assert sorted(again) == sorted(first)  # nothing deleted, nothing else written
    assert again["notes.txt"] == b"my notes" and again["p001_overlay.png"] == first["p001_overlay.png"]
    assert again["p000_overlay.png"] != first["p000_overlay.png"]  # replaced: it now says threshold 0.000
    assert again["predictions.csv"].decode().splitlines()[1].startswith(f"{gt / 'images' / 'p000.png'},")
    assert len(again["predictions.csv"].decode().splitlines()) == 2


TINY_CLI = ["train", "--n-train", "8", "--n-eval", "6", "--size", "16", "--epochs", "1", "--no-progress"]


def test_overwrite_replaces_a_run_but_never_a_users_files(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*TINY_CLI, "--out", str(run)]) == 0
    fresh = sorted(p.name for p in run.iterdir())
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--split", "val", "--no-progress"]) == 0
    assert {"metrics_synthetic_val.json", "results_synthetic_val.csv", "pr_curve_synthetic_val.png",
            "misses_synthetic_val", "false_alarms_synthetic_val"} <= {p.name for p in run.iterdir()} - set(fresh)
    best = (run / "best.pt").read_bytes()
    for junk in (".DS_Store", "misses_synthetic_val/.DS_Store", "misses/Thumbs.db"):  # a file browser looked in
        (run / junk).write_bytes(b"\0")
    assert main([*TINY_CLI, "--seed", "1", "--out", str(run), "--overwrite"]) == 0  # only the run's files: replaced
    assert sorted(p.name for p in run.iterdir()) == fresh and (run / "best.pt").read_bytes() != best
    (run / "last.pt").unlink()  # deleted to save space: the run cannot be resumed, but is still a run
    assert main([*TINY_CLI, "--out", str(run), "--resume"]) == 2
    assert capsys.readouterr().err.endswith(f"samtl: error: {run}/last.pt is missing, so this run cannot be resumed. "
                                            "Run again with --overwrite instead of --resume to replace it, or choose "
                                            "another --out folder.\n")
    assert main([*TINY_CLI, "--out", str(run), "--overwrite"]) == 0
    for name in ("misses_reviewed/notes.txt", "results_for_paper.csv", "metrics_old_backup.json", "misses/mine.txt"):
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_text(f"the user's {name}")
    before = file_bytes(run)
    assert main([*TINY_CLI, "--out", str(run), "--overwrite"]) == 2
    assert capsys.readouterr().err == f"samtl: error: {run} holds files that are not a samtl run " \
        "(metrics_old_backup.json, misses/mine.txt, misses_reviewed, ...). Choose another --out folder: nothing was " \
        "written.\n"
    assert file_bytes(run) == before


@pytest.mark.parametrize("what", ["missing", "empty", "foreign"])
def test_resume_without_a_run_says_there_is_nothing_to_resume(tmp_path, capsys, what):
    out = tmp_path / "out"
    if what != "missing":
        out.mkdir()
    if what == "foreign":
        (out / "config.json").write_text('{"mine": 1}')  # a user's own file of that name is no run
    before = file_bytes(tmp_path)
    assert main(["train", "--resume", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"samtl: error: {out} holds no samtl run (no config.json of one), so there is " \
        "nothing to resume. Drop --resume to start a run there, or give --out the folder of the run to continue.\n"
    assert file_bytes(tmp_path) == before


def test_a_run_that_never_finished_an_epoch_is_started_again(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*TINY_CLI, "--pos-weight", "1e308", "--out", str(run)]) == 2  # inf in float32: NaN in epoch 1
    assert capsys.readouterr().err == f"samtl: error: loss became nan at epoch 1, batch 1; no epoch finished, so " \
        f"{run} holds no checkpoint. Lower the learning rate (now 0.002) or check the loss options (pos_weight " \
        "1e+308) and the data for NaN pixels.\n"
    (run / ".last.pt.k2j4_x9q.tmp").write_bytes(b"half a checkpoint")  # what a kill mid-save leaves
    assert sorted(p.name for p in run.iterdir()) == [".last.pt.k2j4_x9q.tmp", "config.json"]
    config = (run / "config.json").read_bytes()
    with pytest.raises(DataError) as err:
        train_and_evaluate(TrainConfig(epochs=1, size=16, n_train=8, n_eval=6), run, resume=True, progress=False)
    assert str(err.value) == f"{run} holds a run that never finished an epoch (no last.pt): there is nothing to " \
        "resume. Run the same command again without --resume to start it afresh."
    assert (run / "config.json").read_bytes() == config
    assert main(["train", "--resume", "--out", str(run)]) == 2  # the CLI reads the run's config first: the same error
    assert capsys.readouterr().err == f"samtl: error: {err.value}\n"
    assert main([*TINY_CLI, "--out", str(run)]) == 0
    assert f"note: {run} holds a run that never finished an epoch; starting it again\n" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["pos_weight"] is None
    assert (run / "last.pt").is_file() and not (run / ".last.pt.k2j4_x9q.tmp").exists()


def test_a_mask_drawn_on_an_exif_turned_photo_lines_up_with_it(tmp_path):
    """A phone photo stored 30 wide x 20 high with EXIF Orientation 6 (displayed 20 wide x 30 high), its mask
    drawn on the picture as displayed: the folder dataset reads both as displayed, so the sizes match and the
    defect lies on the bright spot it marks."""
    from PIL import Image

    stored = np.zeros((20, 30), np.uint8)
    stored[2:6, 4:10] = 250  # a bright spot near the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to display"
    (tmp_path / "i").mkdir()
    Image.fromarray(stored).save(tmp_path / "i" / "photo.jpg", exif=exif, quality=95)
    displayed = np.rot90(stored, k=-1)  # clockwise: stored row r becomes displayed column 19 - r
    write_gray(tmp_path / "m" / "photo.png", np.where(displayed > 0, 255, 0))
    sample = ImageMaskFolder(tmp_path / "i", tmp_path / "m", missing_mask="empty")[0]
    image, mask = sample["image"][0], sample["mask"][0]
    assert image.shape == mask.shape == (30, 20)
    assert mask.sum() == 24 and image[mask > 0].min() > 0.8 and image[mask == 0].max() < 0.2


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint of a one-epoch model at 32 px, and an image to predict on."""
    root = tmp_path_factory.mktemp("tiny_checkpoint")
    train, val = tiny_sets()
    cfg = TrainConfig(epochs=1, batch_size=8, size=32)
    fit(build_from_config(cfg), train, val, cfg, root / "run", progress=False)
    write_gray(root / "images" / "part.png", np.random.default_rng(1).integers(0, 255, (40, 48)))
    return root / "run" / "best.pt", root / "images" / "part.png"


def test_a_model_whose_weights_or_outputs_are_not_finite_is_refused_everywhere(tiny_checkpoint, tmp_path, capsys):
    good, image = tiny_checkpoint
    state = load_checkpoint(good)
    nan = {k: v.clone(memory_format=torch.contiguous_format) for k, v in state["model"].items()}
    first = next(k for k, v in nan.items() if v.is_floating_point() and v.dim() > 1)
    nan[first].view(-1)[0] = float("nan")
    save_checkpoint(tmp_path / "nan.pt", {**state, "model": nan})
    with pytest.raises(CheckpointError, match=rf"nan.pt: its weights hold NaN or inf \(1 of \d+ values of {first}\)"):
        load_model(tmp_path / "nan.pt")
    for command in (["predict", "--checkpoint", str(tmp_path / "nan.pt"), str(image), "--out", str(tmp_path / "o")],
                    ["evaluate", "--checkpoint", str(tmp_path / "nan.pt"), "--device", "cpu"]):
        assert main(command) == 2
        assert capsys.readouterr().err.startswith(f"samtl: error: {tmp_path / 'nan.pt'}: its weights hold NaN or inf")
    assert not (tmp_path / "o").exists()
    # finite weights whose products overflow: +-3e38 alternating, so that inf - inf gives NaN outputs
    huge = {k: v.clone(memory_format=torch.contiguous_format) for k, v in state["model"].items()}
    for v in huge.values():
        if v.is_floating_point() and v.dim() > 1:
            v.fill_(3e38)
            v.view(-1)[::2] *= -1
    save_checkpoint(tmp_path / "huge.pt", {**state, "model": huge})
    model, config, _ = load_model(tmp_path / "huge.pt")  # the weights themselves are finite
    assert not torch.isfinite(model.sample_scores(model(torch.rand(1, 1, 32, 32)))).all()
    with pytest.raises(CheckpointError, match=f"huge.pt: the model's sample scores on {image} hold NaN or inf"):
        predict_images(tmp_path / "huge.pt", [image], tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing written, so the next predict into it is not refused
    predict_images(good, [image], tmp_path / "o")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["part_mask.png", "part_overlay.png",
                                                                  "predictions.csv"]


BAD_FIELDS = [("size", "64", "not a positive whole number of pixels"),
              ("size", [32, 0], "not a positive whole number of pixels"),
              ("size", 32.0, "not a positive whole number of pixels"),
              ("in_channels", "x", r"not 1 \(gray\) or 3 \(colour\)"),
              ("in_channels", 2, r"not 1 \(gray\) or 3 \(colour\)"),
              ("resize", "squash", "not one of stretch, pad"),
              ("encoder", 7, r"not a name \(text\)"),
              ("use_mask", "yes", "not true or false")]


@pytest.mark.parametrize(("field", "value", "why"), BAD_FIELDS)
def test_a_checkpoint_config_field_of_the_wrong_type_or_range_is_refused(tiny_checkpoint, tmp_path, capsys,
                                                                         field, value, why):
    good, image = tiny_checkpoint
    state = load_checkpoint(good)
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, {**state, "config": {**state["config"], field: value}})
    said = f"{bad}: its config's {field} is {value!r}, "
    with pytest.raises(CheckpointError, match=f"{said.replace('[', '.').replace(']', '.')}{why}.*Use a checkpoint"):
        load_model(bad)
    with pytest.raises(CheckpointError, match=f"its config's {field} is "):  # resuming reads the same config
        check_compatible(load_checkpoint(bad), TrainConfig(epochs=1, batch_size=8, size=32), bad)
    for command in (["predict", "--checkpoint", str(bad), str(image), "--out", str(tmp_path / "o")],
                    ["evaluate", "--checkpoint", str(bad), "--device", "cpu"]):
        assert main(command) == 2
        assert capsys.readouterr().err.startswith(f"samtl: error: {said}")
    assert not (tmp_path / "o").exists()


BAD_THRESHOLDS = [({"score": "0.5", "mask": 0.5, "min_area": 1}, "score threshold is '0.5', not a number"),
                  ({"score": 0.5, "mask": 1.5, "min_area": 1}, r"mask threshold is 1.5, not a probability in \[0, 1\]"),
                  ({"score": 0.5, "mask": 0.5, "min_area": -1}, "min_area threshold is -1, not a whole number"),
                  ({"score": float("nan"), "mask": 0.5, "min_area": 1}, "score threshold is nan, not a number"),
                  ([0.5], r"thresholds are \[0.5\], not a mapping")]


@pytest.mark.parametrize(("thresholds", "said"), BAD_THRESHOLDS)
def test_a_checkpoint_with_unusable_thresholds_is_refused(tiny_checkpoint, tmp_path, capsys, thresholds, said):
    good, image = tiny_checkpoint
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, {**load_checkpoint(good), "thresholds": thresholds})
    with pytest.raises(CheckpointError, match=f"bad.pt: its {said}"):
        load_model(bad)
    assert main(["predict", "--checkpoint", str(bad), str(image), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith(f"samtl: error: {bad}: its ")
