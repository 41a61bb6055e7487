"""Every docstring's "(taught in NN_name)" points at a notebook that mentions what it documents.

The pointers are read from docstrings only (parsed with `ast`, so comments and other strings do not count).
Rules:
- a pointer is "taught in" followed by one or more notebook names (`05_metrics`, or
  `01_defect_data (data commands) and 06_training (the rest)`), or by "every notebook's exercises" (every notebook);
- each named notebook exists, and its code or markdown cells mention the documented name as a whole word: a
  function's or class's name, a method's name (a dunder method's: its class's name, which is how it is called), a
  module's dotted import path (`samtl_lite.engine.loop`) or one of the public names it defines (a package: one it
  exports in `__all__`);
- every public function or class defined at module level in samtl_lite has exactly one pointer, naming one notebook.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "samtl_lite"
NOTEBOOK_DIR = ROOT / "notebooks"

NOTEBOOK = r"\d\d_[a-z0-9_]*[a-z0-9]"
_ONE = rf"{NOTEBOOK}(?:\s+\([^()]*\))?"
POINTER = re.compile(rf"\b[Tt]aught in\s+(every notebook's exercises|{_ONE}(?:(?:,\s*|,?\s+and\s+){_ONE})*)")
EVERY = "every notebook's exercises"


def pointers_in(docstring: str) -> list[list[str]]:
    """The notebooks each pointer of `docstring` names, one list per pointer; `[EVERY]` for every notebook."""
    found = []
    for match in POINTER.finditer(docstring):
        text = match.group(1)
        found.append([EVERY] if text == EVERY else re.findall(NOTEBOOK, re.sub(r"\([^()]*\)", "", text)))
    return found


def mentions(source: str, name: str) -> bool:
    """Whether `name` occurs in `source` as a whole word (letters, digits and _ on neither side)."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", source) is not None


@dataclass(frozen=True)
class Documented:
    where: str  # file:line, for messages
    qualname: str  # samtl_lite.engine.loop.fit, samtl_lite.data.real.PairDataset.with_transform, samtl_lite.viz
    kind: str  # "module", "function", "class" or "method"
    words: tuple[str, ...]  # a notebook teaches it if it mentions any of these
    pointers: tuple[tuple[str, ...], ...]
    public: bool  # a public module-level function or class: it must have exactly one pointer


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def public_names(tree: ast.Module) -> list[str]:
    """A module's public top-level functions and classes, or the names a package lists in `__all__`."""
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef) and not n.name.startswith("_")]
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            names += [n for n in ast.literal_eval(node.value) if not n.startswith("_")]
    return names


def documented(path: Path, root: Path = ROOT) -> list[Documented]:
    """Every docstring of one source file (module, functions, classes, methods, at any depth) with its pointers."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = module_name(path, root)
    rel = path.relative_to(root)
    out = []

    def add(node, qualname, kind, words, public):
        doc = ast.get_docstring(node) or ""
        line = getattr(node, "lineno", 1)
        pointers = tuple(tuple(p) for p in pointers_in(doc))
        out.append(Documented(f"{rel}:{line}", qualname, kind, tuple(words), pointers, public))

    add(tree, module, "module", [module, *public_names(tree)], False)

    def walk(body, prefix, owner, top):
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                is_class = isinstance(node, ast.ClassDef)
                kind = "class" if is_class else ("method" if owner else "function")
                dunder = node.name.startswith("__") and node.name.endswith("__")
                word = owner if (dunder and owner) else node.name
                public = top and not node.name.startswith("_")
                add(node, f"{prefix}.{node.name}", kind, [word], public)
                walk(node.body, f"{prefix}.{node.name}", node.name if is_class else None, False)

    walk(tree.body, module, None, True)
    return out


def all_documented() -> list[Documented]:
    return [d for path in sorted(PACKAGE.rglob("*.py")) for d in documented(path)]


def notebook_sources() -> dict[str, str]:
    """Stem -> the text of its code and markdown cells."""
    sources = {}
    for path in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        sources[path.stem] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] in ("code", "markdown"))
    return sources


def drift(items: list[Documented], sources: dict[str, str]) -> list[str]:
    """One line per pointer that names a missing notebook or one that never mentions the documented name."""
    lines = []
    for item in items:
        for pointer in item.pointers:
            named = list(sources) if pointer == (EVERY,) else list(pointer)
            for notebook in named:
                if notebook not in sources:
                    lines.append(f"{item.where} {item.qualname}: points at {notebook}, which does not exist")
                elif not any(mentions(sources[notebook], w) for w in item.words):
                    others = [nb for nb, text in sources.items() if any(mentions(text, w) for w in item.words)]
                    lines.append(
                        f"{item.where} {item.qualname} ({'/'.join(item.words[:1])}): points at {notebook}, "
                        f"mentioned in {', '.join(others) or 'no notebook'}"
                    )
    return lines


# The scanner on hand-written cases: a scanner that finds nothing would pass the checks below vacuously.


def test_pointer_forms():
    assert pointers_in("Mean IoU; nan when there are none (taught in 05_metrics).") == [["05_metrics"]]
    assert pointers_in("(decisions are score >= threshold; taught in\n    05_metrics). More.") == [["05_metrics"]]
    assert pointers_in("Taught in 01_defect_data (data commands) and 06_training (the rest). Each") == [
        ["01_defect_data", "06_training"]
    ]
    assert pointers_in("Taught in 06_training and 07_experiment. `x`") == [["06_training", "07_experiment"]]
    assert pointers_in("Taught in every notebook's exercises. `check_<name>`") == [[EVERY]]
    assert pointers_in("A (taught in 03_heads). B (taught in 04_joint_loss).") == [["03_heads"], ["04_joint_loss"]]
    assert pointers_in("The heads of notebook 03_heads; nothing taught here.") == []


def test_whole_word_mentions():
    assert mentions("model = samtl_lite.engine.fit(cfg)", "fit")
    assert mentions("`fit` trains", "fit")
    assert not mentions("x = fit_and_pad(img)", "fit")
    assert not mentions("x = refit(img)", "fit")
    assert mentions("from samtl_lite.engine.loop import fit", "samtl_lite.engine.loop")
    assert not mentions("samtl_lite.engine.loops", "samtl_lite.engine.loop")


def test_scanner_reads_docstrings_only(tmp_path):
    pkg = tmp_path / "samtl_lite"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        '"""A module (taught in 02_shared_encoder)."""\n'
        "# a comment (taught in 09_real_data)\n"
        'def f():\n    """F (taught in 03_heads)."""\n    s = "(taught in 04_joint_loss)"\n\n'
        'class C:\n    """C."""\n    def __init__(self):\n        """Make one (taught in 05_metrics)."""\n'
        'def _g():\n    """(taught in 06_training)"""\n'
    )
    items = documented(pkg / "m.py", root=tmp_path)
    got = {d.qualname: (d.kind, d.words, d.pointers, d.public) for d in items}
    assert got == {
        "samtl_lite.m": ("module", ("samtl_lite.m", "f", "C"), (("02_shared_encoder",),), False),
        "samtl_lite.m.f": ("function", ("f",), (("03_heads",),), True),
        "samtl_lite.m.C": ("class", ("C",), (), True),
        "samtl_lite.m.C.__init__": ("method", ("C",), (("05_metrics",),), False),
        "samtl_lite.m._g": ("function", ("_g",), (("06_training",),), False),
    }
    sources = {"02_shared_encoder": "import samtl_lite.m", "03_heads": "nothing", "05_metrics": "C()"}
    assert drift(items, sources) == [
        "samtl_lite/m.py:3 samtl_lite.m.f (f): points at 03_heads, mentioned in no notebook",
        "samtl_lite/m.py:11 samtl_lite.m._g: points at 06_training, which does not exist",
    ]


# The package itself.

ITEMS = all_documented()
SOURCES = notebook_sources()


def test_there_is_something_to_check():
    assert len(SOURCES) >= 9
    assert sum(d.public for d in ITEMS) >= 100


def test_every_public_function_and_class_has_exactly_one_pointer_to_one_notebook():
    bad = [
        f"{d.where} {d.qualname}: {len(d.pointers)} pointers {list(d.pointers)}"
        for d in ITEMS
        if d.public and (len(d.pointers) != 1 or len(d.pointers[0]) != 1 or d.pointers[0] == (EVERY,))
    ]
    assert not bad, "each public function or class needs exactly one '(taught in NN_name)':\n" + "\n".join(bad)


def test_every_pointer_names_a_notebook_that_mentions_it():
    lines = drift(ITEMS, SOURCES)
    assert not lines, f"{len(lines)} pointers drift from the notebooks:\n" + "\n".join(lines)


@pytest.mark.parametrize("notebook", sorted(SOURCES))
def test_every_notebook_is_pointed_at(notebook):
    named = {nb for d in ITEMS for p in d.pointers for nb in p}
    assert notebook in named, f"no docstring says it is taught in {notebook}"


# Each notebook's library map: a markdown cell, before its exercises, listing by module every name whose docstring
# points at it. It is generated from the docstrings, so it cannot drift from them: `python tests/test_lessons.py
# --write` rewrites the cells after a docstring changes, and the test below fails until it has.

MAP_HEADING = "## Where this lesson lives in the library"


def library_map(notebook: str, items: list[Documented]) -> str:
    """The markdown of `notebook`'s library map (without the exercises' model answers, which are for instructors)."""
    groups: dict[str, list[str]] = {}
    for item in items:
        if item.qualname.startswith("samtl_lite.solutions") or not any(notebook in p for p in item.pointers):
            continue
        if item.kind == "module":
            groups.setdefault(item.qualname, [])
            continue
        parts = item.qualname.split(".")
        depth = 1 if item.kind != "method" else 2  # a method is listed as Class.method
        module, name = ".".join(parts[:-depth]), ".".join(parts[-depth:])
        groups.setdefault(module, []).append(f"`{name}`")
    lines = [
        MAP_HEADING,
        "",
        "The library holds this lesson's code in these modules; each name's docstring says that this notebook "
        "teaches it. Read them next to the lesson with `samtl_lite.X??` or in `samtl_lite/`.",
        "",
    ]
    lines += [f"- `{module}`" + (f": {', '.join(names)}" if names else "") for module, names in sorted(groups.items())]
    return "\n".join(lines)


def notebook_cells(notebook: str) -> tuple[Path, dict]:
    path = NOTEBOOK_DIR / f"{notebook}.ipynb"
    return path, json.loads(path.read_text())


def as_source(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def write_library_maps(items: list[Documented]) -> None:
    """Rewrite (or insert, before the "## Exercises" heading) each notebook's library map cell."""
    for notebook in sorted(notebook_sources()):
        path, nb = notebook_cells(notebook)
        cells = [c for c in nb["cells"] if not "".join(c["source"]).startswith(MAP_HEADING)]
        markdown = [c["cell_type"] == "markdown" and "## Exercises" in "".join(c["source"]) for c in cells]
        at = markdown.index(True)
        before, heading, after = "".join(cells[at]["source"]).partition("## Exercises")
        text = library_map(notebook, items)
        new = {"cell_type": "markdown", "id": "library-map", "metadata": {}, "source": as_source(text)}
        if before.strip():  # the heading sits inside a cell: split it there
            first = {**cells[at], "source": as_source(before.rstrip("\n"))}
            rest = {"cell_type": "markdown", "id": f"{cells[at].get('id', 'cell')}-exercises", "metadata": {},
                    "source": as_source(heading + after)}
            cells[at : at + 1] = [first, new, rest]
        else:
            cells.insert(at, new)
        nb["cells"] = cells
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("notebook", sorted(SOURCES))
def test_every_notebook_carries_its_library_map(notebook):
    _, nb = notebook_cells(notebook)
    maps = ["".join(c["source"]) for c in nb["cells"] if "".join(c["source"]).startswith(MAP_HEADING)]
    assert maps == [library_map(notebook, ITEMS)], (
        f"{notebook}'s library map is missing or out of date: run `python tests/test_lessons.py --write`"
    )


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_lessons.py --write   (rewrites each notebook's library map cell)")
    write_library_maps(all_documented())
