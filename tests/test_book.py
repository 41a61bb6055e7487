"""The course site's tools: docs/check_book.py on a hand-made site with each kind of fault, docs/book/assemble.py's
page layout, and docs/run_notebooks.py's kernel settings and its message on a failing cell."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(relative: str):
    """Import one of the book's scripts (they live in docs/, outside the package) as a module."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


check_book = load("docs/check_book.py")
assemble = load("docs/book/assemble.py")
run_notebooks = load("docs/run_notebooks.py")

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake but non-empty").decode()
NOTEBOOK_PAGE = """<html><body><div class="jupyter-wrapper">
<p>Markdown may talk about a Traceback (most recent call last) and a ValueError: that is prose.</p>
<img src="data:image/png;base64,{png}">
<img src="../../assets/fig.png">
<div class="jp-RenderedText jp-OutputArea-output" data-mime-type="text/plain">
<pre>ValueError: printed on purpose</pre></div>
<div class="jp-RenderedText jp-OutputArea-output" data-mime-type="application/vnd.jupyter.stderr"><pre>
UserWarning: a warning is not an error<br>
</pre></div>
{extra}
</div></body></html>"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def sound_site(root: Path) -> Path:
    """A site with a home page, two lesson pages, a figure file and a notebook without errors."""
    site = root / "site"
    write(site / "index.html", '<html><body><img src="assets/fig.png"><a href="lessons/01_a/">01</a></body></html>')
    (site / "assets").mkdir(parents=True)
    (site / "assets" / "fig.png").write_bytes(base64.b64decode(PNG))
    for stem in ["01_a", "02_b"]:
        write(site / "lessons" / stem / "index.html", NOTEBOOK_PAGE.format(png=PNG, extra=""))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("stream")])])
    nbformat.write(nb, site / "lessons" / "01_a" / "01_a.ipynb")
    return site


def test_a_sound_site_passes(tmp_path):
    assert check_book.check_site(sound_site(tmp_path), ["01_a", "02_b"]) == []


def test_a_missing_lesson_page_and_a_page_without_a_notebook(tmp_path):
    site = sound_site(tmp_path)
    (site / "lessons" / "02_b" / "index.html").unlink()
    write(site / "lessons" / "03_c" / "index.html", "<html><body><p>no notebook here</p></body></html>")
    faults = check_book.check_site(site, ["01_a", "02_b", "03_c"])
    assert faults == [
        "lesson 02_b: no page (lessons/02_b/index.html is missing)",
        "lesson 03_c: lessons/03_c/index.html holds no rendered notebook",
    ]


@pytest.mark.parametrize(
    "img, why",
    [
        ('<img src="../../assets/missing.png">', "../../assets/missing.png is not a file in the site"),
        ('<img src="../../../outside.png">', "../../../outside.png is not a file in the site"),
        ('<img src="https://example.org/x.png">', "https://example.org/x.png lies outside the site"),
        ('<img src="data:image/png;base64,@@@@">', "data: URI whose base64 does not decode (data:image/png;base64)"),
        ('<img src="data:image/png;base64,">', "empty data: URI (data:image/png;base64)"),
        ("<img alt='no source'>", "no source (src missing or empty)"),
    ],
)
def test_every_image_must_load(tmp_path, img, why):
    site = sound_site(tmp_path)
    (tmp_path / "outside.png").write_bytes(b"x")  # exists, but not in the site
    write(site / "lessons" / "02_b" / "index.html", NOTEBOOK_PAGE.format(png=PNG, extra=img))
    assert check_book.check_site(site, ["01_a", "02_b"]) == [f"lessons/02_b/index.html: image does not load: {why}"]


def test_every_script_must_load(tmp_path):
    site = sound_site(tmp_path)
    write(site / "assets" / "mathjax" / "MathJax.js", "// MathJax")
    scripts = (
        '<script src="../../assets/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"></script>'
        "<script>var inline = 1;</script>"
    )
    write(site / "lessons" / "01_a" / "index.html", NOTEBOOK_PAGE.format(png=PNG, extra=scripts))
    assert check_book.check_site(site, ["01_a", "02_b"]) == []
    broken = '<script src=""> </script><script src="../../assets/bundle.js"></script>'
    write(site / "lessons" / "02_b" / "index.html", NOTEBOOK_PAGE.format(png=PNG, extra=broken))
    assert check_book.check_site(site, ["01_a", "02_b"]) == [
        "lessons/02_b/index.html: script does not load: no source (src missing or empty)",
        "lessons/02_b/index.html: script does not load: ../../assets/bundle.js is not a file in the site",
    ]


def test_an_image_by_site_absolute_path_and_a_quoted_name_load(tmp_path):
    site = sound_site(tmp_path)
    (site / "assets" / "a figure.png").write_bytes(b"x")
    extra = '<img src="/assets/fig.png"><img src="../../assets/a%20figure.png">'
    write(site / "lessons" / "02_b" / "index.html", NOTEBOOK_PAGE.format(png=PNG, extra=extra))
    assert check_book.check_site(site, ["01_a", "02_b"]) == []


@pytest.mark.parametrize(
    "text, line",
    [
        (
            '<span class="ansi-red-fg">ZeroDivisionError</span>   Traceback (most recent call last)\nCell In[2]',
            "ZeroDivisionError   Traceback (most recent call last)",
        ),
        ("  Cell In[1], line 1\n    x =\n       ^\nSyntaxError: invalid syntax", "SyntaxError: invalid syntax"),
        ("samtl_lite.errors.DataError: no images match", "samtl_lite.errors.DataError: no images match"),
    ],
)
def test_an_error_output_fails(tmp_path, text, line):
    site = sound_site(tmp_path)
    extra = f'<div class="jp-OutputArea-output" data-mime-type="application/vnd.jupyter.stderr"><pre>{text}</pre></div>'
    write(site / "lessons" / "01_a" / "index.html", NOTEBOOK_PAGE.format(png=PNG, extra=extra))
    assert check_book.check_site(site, ["01_a", "02_b"]) == [
        f"lessons/01_a/index.html: a cell output is an error: {line}"
    ]


def test_an_error_output_stored_in_a_shipped_notebook_fails(tmp_path):
    site = sound_site(tmp_path)
    error = nbformat.v4.new_output("error", ename="KeyError", evalue="'x'", traceback=["KeyError: 'x'"])
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("d['x']", outputs=[error])]
    )
    nbformat.write(nb, site / "lessons" / "02_b" / "02_b.ipynb")
    assert check_book.check_site(site, ["01_a", "02_b"]) == ["lessons/02_b/02_b.ipynb: cell 2: KeyError: 'x'"]


def test_not_a_site_at_all(tmp_path):
    assert check_book.check_site(tmp_path, ["01_a"]) == [f"{tmp_path}: no index.html: is this a built site?"]


def test_main_exits_non_zero_and_names_each_fault(tmp_path, monkeypatch, capsys):
    site = sound_site(tmp_path)
    monkeypatch.setattr(check_book, "lesson_stems", lambda: ["01_a", "02_b"])
    assert check_book.main([str(site)]) == 0
    (site / "assets" / "fig.png").unlink()
    assert check_book.main([str(site)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"check_book: 3 fault(s) in {site}:"
    assert sorted(err[1:]) == [
        "  index.html: image does not load: assets/fig.png is not a file in the site",
        "  lessons/01_a/index.html: image does not load: ../../assets/fig.png is not a file in the site",
        "  lessons/02_b/index.html: image does not load: ../../assets/fig.png is not a file in the site",
    ]


def test_the_course_map_links_each_lesson_by_its_name():
    text = "| 01 | `01_defect_data` | the QC problem |\nsee `01_defect_data_extra` and `02_shared_encoder`."
    linked = assemble.link_lessons(text, ["01_defect_data", "02_shared_encoder"])
    assert linked == (
        "| 01 | [`01_defect_data`](lessons/01_defect_data.ipynb) | the QC problem |\n"
        "see `01_defect_data_extra` and [`02_shared_encoder`](lessons/02_shared_encoder.ipynb)."
    )
    # a name already linked to its notebook file is linked to the lesson's page instead, not linked twice
    text = "| [`02_shared_encoder`](02_shared_encoder.ipynb) |"
    linked = assemble.link_lessons(text, ["02_shared_encoder"])
    assert linked == "| [`02_shared_encoder`](lessons/02_shared_encoder.ipynb) |"


def test_a_report_travels_with_the_files_it_links_beside_it(tmp_path):
    docs = tmp_path / "docs"
    write(docs / "fig.png", "png")
    write(docs / "run.log", "log")
    write(docs / "other.md", "# other")
    write(tmp_path / "README.md", "# readme")
    page = write(
        docs / "report.md",
        "![a](fig.png) [log](run.log#L3) [other](other.md) [up](../README.md) [web](https://x.org/y.png) "
        "[gone](no.png)",
    )
    out = tmp_path / "book"
    assemble.copy_with_links(page, out)
    assert sorted(p.name for p in out.iterdir()) == ["fig.png", "report.md", "run.log"]
    assert (out / "report.md").read_text() == page.read_text()


def test_assembly_refuses_lessons_missing_or_not_executed(tmp_path):
    stems = [p.stem for p in assemble.lessons()]
    executed_dir = tmp_path / "executed"
    executed_dir.mkdir()
    earlier = write(tmp_path / "build" / "book" / "index.md", "# an earlier build")
    with pytest.raises(assemble.BookError, match=f"{stems[0]}.ipynb is missing"):
        assemble.assemble(executed_dir, tmp_path / "build")
    for stem in stems:  # the stored notebooks, outputs cleared: not executed
        (executed_dir / f"{stem}.ipynb").write_text((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    with pytest.raises(assemble.BookError, match=f"{stems[0]}.ipynb has no outputs"):
        assemble.assemble(executed_dir, tmp_path / "build")
    assert earlier.read_text() == "# an earlier build"  # a refused build leaves the earlier one as it was


def test_assembly_lays_out_every_lesson_in_order_and_the_navigation(tmp_path):
    stems = [p.stem for p in assemble.lessons()]
    executed_dir = tmp_path / "executed"
    executed_dir.mkdir()
    for stem in stems:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", execution_count=1)])
        nbformat.write(nb, executed_dir / f"{stem}.ipynb")
    nav = assemble.assemble(executed_dir, tmp_path / "build")
    book = tmp_path / "build" / "book"
    assert nav[0] == {"Course map": "index.md"}
    assert nav[1] == {"Lessons": [f"lessons/{s}.ipynb" for s in stems]}
    assert nav[2]["Reports"][:2] == ["results.md", "reliability.md"]
    assert sorted(p.stem for p in (book / "lessons").glob("*.ipynb")) == stems
    assert (book / "assets" / "mathjax" / "MathJax.js").is_file() and (book / "extra.css").is_file()
    assert (book / "index.md").read_text().startswith((ROOT / "notebooks" / "README.md").read_text().splitlines()[0])
    config = json.loads((tmp_path / "build" / "mkdocs.yml").read_text())
    assert (tmp_path / "build" / config["INHERIT"]).resolve() == ROOT / "mkdocs.yml"
    assert (config["docs_dir"], config["site_dir"], config["nav"]) == ("book", "site", nav)


def test_pick_names_lessons_by_number_name_or_path():
    every = run_notebooks.lessons()
    assert run_notebooks.pick([]) == every
    assert run_notebooks.pick(["02", every[0].stem, f"notebooks/{every[0].name}"]) == [every[1], every[0]]
    with pytest.raises(SystemExit, match="no single lesson called 'nope'"):
        run_notebooks.pick(["nope"])


def test_a_kernel_runs_in_notebooks_with_the_mode_and_threads_and_a_failing_cell_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(run_notebooks, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(run_notebooks, "ROOT", tmp_path.parent)
    probe = "import os\nprint(os.getcwd(), *(os.environ[k] for k in ['SAMTL_FAST', 'OMP_NUM_THREADS', 'TMPDIR']))"
    cells = [nbformat.v4.new_markdown_cell("# probe"), nbformat.v4.new_code_cell(probe)]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    nb = run_notebooks.execute(path, run_notebooks.kernel_env(True, 3, str(scratch)), timeout=120)
    assert nb.cells[1].outputs[0]["text"].split() == [str(tmp_path), "0", "3", str(scratch)]
    assert run_notebooks.kernel_env(False, 1, "/t")["SAMTL_FAST"] == "1"

    cells.append(nbformat.v4.new_code_cell("x = 1\n1 / 0"))
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    with pytest.raises(run_notebooks.CellFailed) as failed:
        run_notebooks.execute(path, run_notebooks.kernel_env(False, 1, str(scratch)), timeout=120)
    assert str(failed.value) == (
        f"{tmp_path.name}/probe.ipynb: cell 3 of 3 (code cell 2, starting 'x = 1') failed:\n"
        "ZeroDivisionError: division by zero"
    )
