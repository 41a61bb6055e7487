"""Bad input, faults and untrusted files: each case gets a clear error or a documented handling.

docs/reliability.md lists the cases and points to the test for each.
"""

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

from samtl_lite import DataError
from samtl_lite.data import ImageMaskFolder, MagneticTile, load_image, load_mask
from samtl_lite.engine import load_checkpoint
from samtl_lite.engine.evaluate import Predictions, thresholds_on
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
        write_gray(tmp_path / "i" / f"{name}.png", np.zeros((16, 16)))
        write_gray(tmp_path / "m" / f"{name}.png", square_mask(16, 16, None))
    (tmp_path / "i" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
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
