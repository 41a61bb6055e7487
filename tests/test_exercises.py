"""The exercises, their checkers and their model answers.

- every checker passes the model answer, fails a wrong answer, and reports a placeholder as not attempted;
- every exercise in a notebook's "## Exercises" section has a model answer under its key "NN.k", and every key names
  an exercise that exists, with the same title and the phrases its answer relies on: a notebook edit that renumbers,
  renames or rewrites an exercise fails here until `samtl_lite/solutions.py` follows it;
- `solution("NN.k")` prints every answer and returns the reference function of a code exercise;
- no notebook code reaches the answers.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from samtl_lite import exercises as ex
from samtl_lite import losses
from samtl_lite import solutions as sol
from samtl_lite.solutions import SOLUTIONS

ROOT = Path(__file__).parents[1]
NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HEADING = re.compile(r"#{1,2} ")  # a section (##) or title (#) heading; ### subheadings stay inside a section
ITEM = re.compile(r"^(\d+)\.\s+\*\*(.+?)\*\*(.*?)(?=^\d+\.\s+\*\*|\Z)", re.S | re.M)


def exercise_section(path: Path) -> tuple[str, str]:
    """The markdown under a notebook's "## Exercises" heading (to the next heading) and the code of the code cells
    that follow it within that section."""
    markdown, code, inside = [], [], False
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            for line in source.split("\n"):
                if HEADING.match(line):
                    inside = line.strip() == "## Exercises"
                elif inside:
                    markdown.append(line)
        elif inside and cell["cell_type"] == "code":
            code.append(source)
    return "\n".join(markdown), "\n".join(code)


def notebook_exercises() -> dict[str, dict[str, str]]:
    """Key "NN.k" -> the exercise's title (without its final period), its text and its section's code."""
    found = {}
    for path in NOTEBOOK_FILES:
        markdown, code = exercise_section(path)
        for number, title, text in ITEM.findall(markdown):
            found[f"{path.stem[:2]}.{number}"] = {"title": title.strip().rstrip("."), "text": " ".join(text.split()),
                                                  "code": code, "notebook": path.stem}
    return found


EXERCISES = notebook_exercises()
CODE_KEYS = [k for k, a in SOLUTIONS.items() if a.reference is not None]
CHECKERS = sorted(name for name, f in vars(ex).items() if name.startswith("check_") and callable(f))


# The parser itself, on a hand-made notebook: a parser that finds nothing would make the drift tests vacuous.


def test_the_exercise_parser_reads_items_titles_and_code(tmp_path):
    cells = [
        {"cell_type": "markdown", "source": ["## 3 · Something\n", "1. **Not an exercise.** text\n"]},
        {"cell_type": "markdown", "source": ["Intro.\n", "\n", "## Exercises\n", "\n", "1. **First one.** Do a\n",
                                             "   thing.\n", "2. **Second?** Do `my_f(x)`.\n"]},
        {"cell_type": "code", "source": ["def my_f(x):\n", "    raise NotImplementedError\n"]},
        {"cell_type": "markdown", "source": ["## Summary\n", "3. **Not one either.**\n"]},
        {"cell_type": "code", "source": ["print(1)\n"]},
    ]
    path = tmp_path / "42_made_up.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    markdown, code = exercise_section(path)
    assert [(n, t.rstrip(".")) for n, t, _ in ITEM.findall(markdown)] == [("1", "First one"), ("2", "Second?")]
    assert "def my_f" in code and "print(1)" not in code


def test_every_notebook_has_exercises():
    assert len(NOTEBOOK_FILES) == len(sol.NOTEBOOKS) >= 9
    assert {p.stem for p in NOTEBOOK_FILES} == set(sol.NOTEBOOKS.values())
    by_notebook = {p.stem: [k for k in EXERCISES if k.startswith(p.stem[:2] + ".")] for p in NOTEBOOK_FILES}
    for stem, keys in by_notebook.items():
        assert keys, f"{stem}: no numbered exercise found under '## Exercises'"
        assert keys == [f"{stem[:2]}.{i}" for i in range(1, len(keys) + 1)], f"{stem}: exercises not numbered 1..n"


# The keys against the notebooks: the two cannot drift apart.


def test_every_exercise_has_a_model_answer_and_every_answer_an_exercise():
    missing = sorted(set(EXERCISES) - set(SOLUTIONS))
    orphans = sorted(set(SOLUTIONS) - set(EXERCISES))
    assert not missing and not orphans, (
        f"exercises without a model answer in samtl_lite/solutions.py: {missing}; "
        f"answers to exercises that no notebook has (renumbered or removed?): {orphans}")


@pytest.mark.parametrize("key", sorted(SOLUTIONS))
def test_each_answer_matches_its_exercise(key):
    assert key in EXERCISES, f"{key}: no such exercise in the notebooks"
    exercise, answer = EXERCISES[key], SOLUTIONS[key]
    assert answer.title == exercise["title"], f"{key}: the notebook calls it {exercise['title']!r} now"
    assert answer.needs, f"{key}: name the phrases of the exercise that the answer relies on"
    gone = [p for p in answer.needs if p not in exercise["text"] + exercise["code"]]
    assert not gone, f"{key} ({exercise['notebook']}) was rewritten: no longer mentions {gone}; update its answer"


@pytest.mark.parametrize("key", CODE_KEYS)
def test_a_code_exercise_asks_for_the_reference_function_and_calls_its_checker(key):
    exercise, answer = EXERCISES[key], SOLUTIONS[key]
    name = answer.reference.__name__
    assert re.search(rf"def {name}\(", exercise["code"]), f"{key}: the notebook no longer defines {name}"
    assert re.search(rf"\b{answer.checker}\({name}\)", exercise["code"]), f"{key}: no call {answer.checker}({name})"
    doc = inspect.getdoc(getattr(ex, answer.checker))  # "Exercise 04.1: ..." or "04_joint_loss, exercise 1: ..."
    assert f"Exercise {key}:" in doc or f"{exercise['notebook']}, exercise {key[3:]}:" in doc, (key, doc)
    student = inspect.signature(_notebook_function(exercise["code"], name))
    assert list(student.parameters) == list(inspect.signature(answer.reference).parameters), key


def _notebook_function(code: str, name: str):
    """The placeholder the notebook defines for the student, read from its source without running the cell."""
    match = re.search(rf"^def {name}\(.*?\):\n(?:[ \t]+.*\n?)+", code, re.M)
    namespace: dict = {}
    exec(match.group(0), namespace)  # a `def` with a NotImplementedError body: nothing runs
    return namespace[name]


def test_every_checker_has_a_reference_solution():
    assert sorted(SOLUTIONS[k].checker for k in CODE_KEYS) == CHECKERS


def test_no_notebook_code_reaches_the_answers():
    for path in NOTEBOOK_FILES:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                assert "solutions" not in source and not re.search(r"\bsolution\(", source), path.name


# The checkers: the model answer passes, a wrong answer and a placeholder do not.


def placeholder(*args, **kwargs):
    raise NotImplementedError("your code here")


WRONG = {
    "check_blob": lambda s, c, r: sol.my_blob(s, c, r + 1),
    "check_receptive_fields": lambda n_stages, kernel: sol.my_receptive_fields(n_stages, 3),
    "check_topk_score": lambda x, k: torch.sigmoid(x.flatten(1)).amax(1),
    "check_tversky": lambda z, t, a, b, s: sol.my_tversky(z, t, b, a, s),
    "check_seg_recall_overlap": lambda i, p, g, m=1: sol.my_seg_recall_overlap(p, p, g, m),
    "check_same_weights": lambda a, b: all(k in b and torch.equal(a[k], b[k]) for k in a),
    "check_sign_agreement": lambda s, m: float(np.mean(np.array(s["mtl"][m]["values"])
                                                       >= np.array(s["seg-only"][m]["values"]))),
    "check_threshold_for_recall": lambda s, y, t: float(np.quantile(s[y > 0.5], 1 - t)),
    "check_empty_defect_masks": lambda ds: [s.image.stem for s in ds.samples][:2],
}


@pytest.mark.parametrize("checker", CHECKERS)
def test_checker_passes_the_model_answer_fails_a_wrong_one_and_waits_for_placeholders(checker, capsys):
    check = getattr(ex, checker)
    right = next(SOLUTIONS[k].reference for k in CODE_KEYS if SOLUTIONS[k].checker == checker)
    assert check(right) is True
    assert "pass" in capsys.readouterr().out
    assert check(WRONG[checker]) is False
    assert "not right yet" in capsys.readouterr().out
    assert check(placeholder) is False
    assert "not attempted yet" in capsys.readouterr().out


def test_a_crashing_solution_is_reported_not_raised(capsys):
    assert ex.check_topk_score(lambda x, k: x.nonexistent) is False
    assert "raised AttributeError" in capsys.readouterr().out


def test_the_same_weights_checker_catches_an_extra_key(capsys):
    ignores_extra = lambda a, b: all(k in b and torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert ex.check_same_weights(ignores_extra) is False
    assert "an extra key" in capsys.readouterr().out


# The reference functions on hand-computed cases beyond the checkers', and the claims their answers make.


def test_references_on_hand_computed_cases():
    assert sol.my_receptive_fields() == [7, 19, 43, 91]  # 1 + 2 + 4 = 7, 7 + 4 + 8 = 19, 19 + 8 + 16 = 43, ...
    assert sol.my_receptive_fields(4, 5)[3] == 181  # r - 1 doubles from 3x3 to 5x5: 2 * 90 + 1
    assert sol.my_blob((5, 5), (2, 2), 1.0).sum() == 5  # the centre and its four neighbours
    assert sol.my_blob((128, 128), (64, 64), 2.0).sum() == 13 and sol.my_blob((128, 128), (64, 64), 2.3).sum() == 21
    # 10 defective scores 1.0, 0.9, ..., 0.1: 70% recall is reached at the 7th (0.4), although 0.7 * 10 is not 7
    scores, labels = np.r_[np.linspace(1.0, 0.1, 10), 0.95, 0.05], np.r_[np.ones(10), 0, 0]
    assert sol.my_threshold_for_recall(scores, labels, 0.7) == pytest.approx(0.4)
    assert sol.my_threshold_for_recall(scores, labels, 1.0) == pytest.approx(0.1)
    assert sol.my_seg_recall_overlap([1, 0, 5], [3, 4, 5], [2, 2, 0], 2) == 0.5  # sample 1 fired off the defect
    assert np.isnan(sol.my_seg_recall_overlap([0], [4], [0]))
    logits = torch.tensor([[[[0.0, 20.0], [-20.0, -20.0]]]])  # p = 0.5 on a defect pixel, 1 on a clean one
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert float(sol.my_tversky(logits, target, 0.3, 0.7, 0.0)) == pytest.approx(1 - 0.5 / (0.5 + 0.3 + 0.35))


def test_tversky_at_one_half_with_half_the_smoothing_is_soft_dice():
    g = torch.Generator().manual_seed(1)
    z, t = torch.randn(3, 1, 8, 8, generator=g) * 2, (torch.rand(3, 1, 8, 8, generator=g) > 0.8).float()
    for s in (1.0, 0.2):
        assert torch.allclose(sol.my_tversky(z, t, 0.5, 0.5, s / 2), losses.soft_dice(z, t, smooth=s), atol=1e-6)


# solution(): what an instructor calls.


@pytest.mark.parametrize("key", sorted(SOLUTIONS))
def test_solution_prints_the_answer_and_returns_the_reference(key, capsys):
    returned = ex.solution(key)
    out = capsys.readouterr().out
    answer = SOLUTIONS[key]
    assert out.startswith(f"{key} · {answer.title} ({sol.NOTEBOOKS[key[:2]]}, exercise {key[3:]})")
    assert len(out.split()) > 40  # a model answer, not a stub
    assert "unexpected" not in out  # an answer that computes a fact found it as described
    if answer.reference is None:
        assert returned is None and "Reference solution" not in out
    else:
        assert returned is answer.reference and f"def {answer.reference.__name__}(" in out
        assert getattr(ex, answer.checker)(returned) is True


def test_solution_keys_may_drop_the_leading_zero_and_unknown_keys_say_which_exist(capsys):
    assert ex.solution("4.1") is ex.solution("04.1") is sol.my_tversky
    capsys.readouterr()
    with pytest.raises(KeyError, match=r"no exercise '04\.9'.*01\.1, 01\.2"):
        ex.solution("04.9")
