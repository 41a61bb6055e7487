"""Auto-checkers for the notebooks' exercises: run a student's function on hidden cases.

Taught in every notebook's exercises. `check_<name>(student_fn)` prints a friendly pass, or the first
failing case with what was expected, and returns True or False. A placeholder that raises
`NotImplementedError` is reported as "not attempted yet", so a fresh notebook still runs top to bottom.
The checkers compare against the library; they print inputs and expected values, never reference code.
Model answers live apart, in `samtl_lite.solutions`, reached through `solution("NN.k")`: no notebook imports them,
so a student does not see them by accident.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

Case = tuple[str, Callable[[Callable], Any], Any]  # description, how to call the student's function, expected


def _same(got: Any, expected: Any) -> bool:
    if isinstance(expected, torch.Tensor):
        got = torch.as_tensor(got)
        return got.shape == expected.shape and torch.allclose(got.float(), expected.float(), atol=1e-5, equal_nan=True)
    if isinstance(expected, np.ndarray):
        got = np.asarray(got)
        return got.shape == expected.shape and np.allclose(got, expected, atol=1e-6, equal_nan=True)
    if isinstance(expected, float):
        return got is not None and bool(np.isclose(float(got), expected, atol=1e-6, equal_nan=True))
    return got == expected


def _short(x: Any) -> str:
    text = repr(x.tolist() if isinstance(x, torch.Tensor | np.ndarray) else x)
    return text if len(text) < 300 else text[:300] + " ..."


def run_checks(name: str, student_fn: Callable, cases: Iterable[Case]) -> bool:
    """Run `cases` against `student_fn`; print the outcome and return whether every case passed (taught in
    01_defect_data)."""
    cases = list(cases)
    for i, (description, call, expected) in enumerate(cases, start=1):
        try:
            got = call(student_fn)
        except NotImplementedError:
            print(f"{name}: not attempted yet")
            return False
        except Exception as err:  # the student's code failed: show where, not a traceback wall
            print(f"{name}: case {i} ({description}) raised {err.__class__.__name__}: {err}")
            return False
        if not _same(got, expected):
            print(f"{name}: case {i} ({description}) is not right yet.\n  expected {_short(expected)}\n"
                  f"  got      {_short(got)}")
            return False
    print(f"{name}: all {len(cases)} hidden cases pass. Well done!")
    return True


def check_blob(student_fn: Callable) -> bool:
    """Exercise 01.1: `my_blob(shape, centre, radius)` -> bool mask of a round pit, centre as (row, col)
    (taught in 01_defect_data)."""
    from samtl_lite.data import polyline_distance

    cases = []
    for shape, centre, radius in (((9, 9), (4, 4), 2.0), ((12, 20), (3, 15), 3.5), ((16, 16), (0, 0), 1.0),
                                  ((10, 7), (5.5, 2.2), 2.4)):
        expected = polyline_distance(np.array([centre], dtype=np.float32), shape) <= radius
        cases.append((f"shape {shape}, centre (row, col) {centre}, radius {radius}",
                      lambda f, a=(shape, centre, radius): np.asarray(f(*a), dtype=bool), expected))
    return run_checks("my_blob", student_fn, cases)


def check_receptive_fields(student_fn: Callable) -> bool:
    """Exercise 02.1: `my_receptive_fields(n_stages, kernel)` -> list of fields per stage
    (taught in 02_shared_encoder)."""
    cases = []
    for n, k in ((4, 3), (4, 5), (2, 7), (5, 3)):
        r, j, expected = 1, 1, []
        for _ in range(n):
            for stride in (2, 1):
                r, j = r + (k - 1) * j, j * stride
            expected.append(r)
        cases.append((f"{n} stages, {k}x{k} kernels", lambda f, n=n, k=k: list(f(n_stages=n, kernel=k)), expected))
    return run_checks("my_receptive_fields", student_fn, cases)


def check_topk_score(student_fn: Callable) -> bool:
    """Exercise 03.1: `my_topk_score(mask_logits, k)` -> mean of the k largest pixel probabilities
    (taught in 03_heads)."""
    from samtl_lite.models import Output, sample_scores

    g = torch.Generator().manual_seed(3)
    cases = []
    for shape, k in (((2, 1, 4, 4), 1), ((3, 1, 8, 5), 4), ((1, 1, 3, 3), 9)):
        logits = torch.randn(*shape, generator=g) * 3
        cases.append((f"mask logits of shape {shape}, k={k}", lambda f, x=logits, k=k: f(x.clone(), k),
                      sample_scores(Output(logits, None), "topk", k=k)))
    return run_checks("my_topk_score", student_fn, cases)


def check_tversky(student_fn: Callable) -> bool:
    """Exercise 04.1: `my_tversky(logits, target, alpha, beta, smooth)`, averaged over samples
    (taught in 04_joint_loss)."""
    g = torch.Generator().manual_seed(4)
    cases = []
    for alpha, beta, smooth in ((0.5, 0.5, 0.5), (0.3, 0.7, 1.0), (0.9, 0.1, 1e-3)):
        z = torch.randn(3, 1, 6, 6, generator=g)
        t = (torch.rand(3, 1, 6, 6, generator=g) > 0.8).float()
        t[2] = 0.0  # a clean sample still pays for its false positives
        p, tt = torch.sigmoid(z).flatten(1), t.flatten(1)
        tp, fp, fn = (p * tt).sum(1), (p * (1 - tt)).sum(1), ((1 - p) * tt).sum(1)
        expected = (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean()
        cases.append((f"alpha {alpha}, beta {beta}, smooth {smooth}",
                      lambda f, a=(z, t, alpha, beta, smooth): f(*a), expected))
    return run_checks("my_tversky", student_fn, cases)


def check_seg_recall_overlap(student_fn: Callable) -> bool:
    """Exercise 05.1: `my_seg_recall_overlap(inter, n_pred, n_gt, min_area)` from per-sample counts
    (taught in 05_metrics)."""
    from samtl_lite.metrics.masks import seg_recall_from

    cases = []
    for inter, pred, gt, min_area in (([2, 0, 0, 0], [3, 4, 2, 0], [4, 1, 0, 0], 1),
                                      ([1, 3, 0], [1, 5, 9], [2, 3, 4], 2), ([0, 0], [0, 0], [0, 0], 1)):
        stats = {"inter": np.array(inter), "pred": np.array(pred), "gt": np.array(gt)}
        cases.append((f"inter {inter}, n_pred {pred}, n_gt {gt}, min_area {min_area}",
                      lambda f, s=stats, m=min_area: f(s["inter"], s["pred"], s["gt"], m),
                      seg_recall_from(stats, min_area, require_overlap=True)))
    return run_checks("my_seg_recall_overlap", student_fn, cases)


def check_same_weights(student_fn: Callable) -> bool:
    """Exercise 06.2: `my_same_weights(state_a, state_b)` -> True only for identical weights
    (taught in 06_training)."""
    a = {"w": torch.ones(3), "b": torch.zeros(2)}
    nudged = {"w": torch.tensor([1.0, 1.0, 1.0 + 1e-7]), "b": torch.zeros(2)}
    cases = [("identical", lambda f: bool(f(a, {k: v.clone() for k, v in a.items()})), True),
             ("one weight off by 1e-7", lambda f: bool(f(a, nudged)), False),
             ("a missing key", lambda f: bool(f(a, {"w": torch.ones(3)})), False),
             ("an extra key", lambda f: bool(f(a, {**a, "extra": torch.zeros(1)})), False)]
    return run_checks("my_same_weights", student_fn, cases)


def check_sign_agreement(student_fn: Callable) -> bool:
    """Exercise 07.2: `my_sign_agreement(summary, metric)` -> share of seeds where mtl > seg-only
    (taught in 07_experiment)."""
    def summary(mtl: list[float], seg: list[float]) -> dict:
        return {"mtl": {"ap": {"values": mtl}}, "seg-only": {"ap": {"values": seg}}}

    cases = [("mtl better on 2 of 3 seeds", lambda f: f(summary([0.8, 0.7, 0.6], [0.7, 0.6, 0.65]), "ap"), 2 / 3),
             ("never better (a tie is not better)", lambda f: f(summary([0.5, 0.5], [0.5, 0.9]), "ap"), 0.0),
             ("one seed", lambda f: f(summary([0.9], [0.1]), "ap"), 1.0)]
    return run_checks("my_sign_agreement", student_fn, cases)


def check_threshold_for_recall(student_fn: Callable) -> bool:
    """08_explore, exercise 1: `my_threshold_for_recall(scores, labels, target)` -> the highest threshold whose
    recall (score >= threshold) reaches `target` (taught in 08_explore)."""
    cases = [("scores 0.9 0.8 0.3 for defects", lambda f: float(f(np.array([0.9, 0.8, 0.3, 0.5]),
                                                                    np.array([1, 1, 1, 0]), 0.6)), 0.8),
             ("all defects needed", lambda f: float(f(np.array([0.2, 0.7, 0.4]), np.array([1, 1, 0]), 1.0)), 0.2),
             ("ties", lambda f: float(f(np.array([0.5, 0.5, 0.1]), np.array([1, 1, 1]), 0.5)), 0.5)]
    return run_checks("my_threshold_for_recall", student_fn, cases)


def check_empty_defect_masks(student_fn: Callable) -> bool:
    """09_real_data, exercise 3: `my_empty_defect_masks(dataset)` -> sorted stems of defect-class images
    whose mask is empty (on a small hidden Magnetic Tile-like folder; taught in 09_real_data)."""
    import tempfile
    import warnings
    from pathlib import Path

    from PIL import Image

    from samtl_lite.data import MagneticTile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for cls, name, defect in (("Crack", "c1", True), ("Crack", "c2", False), ("Free", "f1", False),
                                  ("Uneven", "u1", False), ("Uneven", "u2", True)):
            folder = root / f"MT_{cls}" / "Imgs"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), 90, np.uint8)).save(folder / f"{name}.jpg")
            mask = np.zeros((8, 8), np.uint8)
            mask[2:4, 2:4] = 255 if defect else 0
            Image.fromarray(mask).save(folder / f"{name}.png")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = MagneticTile(root)
            return run_checks("my_empty_defect_masks", student_fn,
                              [("a folder with 5 images", lambda f: sorted(f(ds)), ["c2", "u1"])])


def solution(key: str) -> Callable | None:
    """Print the model answer to exercise `key`, "NN.k" (notebook NN, exercise k as numbered there; "4.1" is
    read as "04.1"), and return the reference function of a code exercise (None for the others), which passes
    that exercise's checker. For instructors: no notebook calls it (taught in 01_defect_data)."""
    import inspect
    import textwrap

    from samtl_lite.solutions import NOTEBOOKS, SOLUTIONS

    nb, _, k = str(key).strip().partition(".")
    full = f"{nb.zfill(2)}.{k}"
    if full not in SOLUTIONS:
        raise KeyError(f"no exercise {key!r}; the keys are {', '.join(SOLUTIONS)}")
    answer = SOLUTIONS[full]
    words = answer.words() if callable(answer.words) else answer.words
    print(f"{full} · {answer.title} ({NOTEBOOKS[nb.zfill(2)]}, exercise {k})\n")
    for paragraph in words.strip().split("\n\n"):
        print(textwrap.fill(" ".join(paragraph.split()), width=110), end="\n\n")
    if answer.reference is not None:
        print(f"Reference solution (passes {answer.checker}):\n")
        print(inspect.getsource(answer.reference))
    return answer.reference
