"""The notebooks as files: stored without outputs, a setup cell that installs the package where it is missing,
a visible mode switch. (nbval runs them; these tests read them.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 9


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: clear its outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_the_same_setup_cell_and_a_mode_switch(path):
    first, second = code_cells(path)[:2]
    assert first == code_cells(NOTEBOOKS[0])[0], f"{path.name}: its setup cell differs from {NOTEBOOKS[0].name}'s"
    assert "FAST = samtl_lite.fast_mode()" in second.splitlines()


def run_setup_cell(monkeypatch, installed: bool) -> tuple[list, dict]:
    """Execute the setup cell with the package present or missing; return the commands it ran."""
    calls = []
    present = lambda name: object() if installed or name != "samtl_lite" else None  # noqa: E731
    monkeypatch.setattr("importlib.util.find_spec", present)
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    namespace: dict = {}
    exec(code_cells(NOTEBOOKS[0])[0], namespace)
    return calls, namespace


def test_setup_cell_installs_the_package_only_where_it_is_missing(monkeypatch):
    calls, namespace = run_setup_cell(monkeypatch, installed=True)
    assert calls == []
    calls, namespace = run_setup_cell(monkeypatch, installed=False)
    assert calls == [(([sys.executable, "-m", "pip", "install", "--quiet", namespace["SOURCE"]],), {"check": True})]
    name, _, url = namespace["SOURCE"].partition(" @ ")
    assert name == "samtl-lite" and url.startswith("git+https://")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(path):
    ids = [cell.get("id") for cell in json.loads(path.read_text())["cells"]]
    assert None not in ids and len(set(ids)) == len(ids), f"{path.name}: give every cell its own id"
