"""Lay out the course's pages for mkdocs: the course map, the executed lessons, the reports, this site's own pages.

    python docs/book/assemble.py --notebooks build/notebooks --out build

writes build/book/ (the pages) and build/mkdocs.yml (the repository's mkdocs.yml plus the navigation of what was
laid out), ready for `mkdocs build --strict -f build/mkdocs.yml`. Nothing is forked: notebooks/README.md becomes
the home page, docs/results.md, docs/reliability.md and docs/probes.md (when it exists) the reports, each copied as
it stands at build time, with the files in docs/ that they link to (figures, logs); MathJax goes to
assets/mathjax. The lessons come from --notebooks, a folder of executed copies (docs/run_notebooks.py writes one);
a lesson missing there, or one stored there without outputs, stops the build with its name.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
DOCS = ROOT / "docs"
OWN_PAGES = Path(__file__).resolve().parent
REPORTS = ["results.md", "reliability.md", "probes.md"]  # in this order; probes.md only once it exists
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")  # markdown link or image target, anchor dropped


class BookError(RuntimeError):
    """A page the book needs is missing or unusable: the message names it and the fix."""


def lessons() -> list[Path]:
    """The lesson notebooks in course order (notebooks/NN_name.ipynb)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def executed(path: Path) -> bool:
    """True when some code cell of the notebook at `path` carries outputs or an execution count."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return any(c.get("outputs") or c.get("execution_count") for c in cells if c["cell_type"] == "code")


def mathjax() -> Path:
    """MathJax 2.7's files, from the jupyter-server-mathjax package: the lessons' formulas render from the site
    itself (mkdocs.yml's custom_mathjax_url points there), with no CDN and no network."""
    try:
        import jupyter_server_mathjax
    except ImportError as err:
        raise BookError("jupyter-server-mathjax is not installed: pip install -e '.[book]'") from err
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def link_lessons(text: str, stems: list[str]) -> str:
    """The course map with each lesson's name in backticks (`01_defect_data`), or its link to the notebook file,
    turned into a link to its page."""
    for stem in stems:
        text = text.replace(f"]({stem}.ipynb)", f"](lessons/{stem}.ipynb)")
        text = re.sub(rf"(?<!\[)`{stem}`", f"[`{stem}`](lessons/{stem}.ipynb)", text)
    return text


def copy_with_links(source: Path, target_dir: Path) -> None:
    """Copy a markdown page and the files beside it that it links to (figures, logs) into target_dir."""
    text = source.read_text(encoding="utf-8")
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / source.name).write_text(text, encoding="utf-8")
    for target in LINK.findall(text):
        if "://" in target or target.startswith(("/", "mailto:")):
            continue
        linked = (source.parent / target).resolve()
        if linked.is_file() and linked.parent == source.parent.resolve() and linked.suffix != ".md":
            shutil.copy2(linked, target_dir / linked.name)


def assemble(notebooks: Path, out: Path) -> list:
    """Write out/book (pages) and out/mkdocs.yml; return the navigation written."""
    stems = [p.stem for p in lessons()]
    if not stems:
        raise BookError(f"no lessons found in {NOTEBOOKS}")
    for stem in stems:  # every lesson checked before anything is replaced
        source = notebooks / f"{stem}.ipynb"
        if not source.is_file():
            raise BookError(f"{source} is missing: run `python docs/run_notebooks.py --out {notebooks}` first")
        if not executed(source):
            raise BookError(f"{source} has no outputs: give make book a folder of executed notebooks")

    book = out / "book"
    if book.exists():
        shutil.rmtree(book)
    (book / "lessons").mkdir(parents=True)
    for stem in stems:
        shutil.copy2(notebooks / f"{stem}.ipynb", book / "lessons" / f"{stem}.ipynb")

    home = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    (book / "index.md").write_text(link_lessons(home, stems), encoding="utf-8")

    reports = []
    for name in REPORTS:
        if (DOCS / name).is_file():
            copy_with_links(DOCS / name, book)
            reports.append(name)
    own = sorted(OWN_PAGES.glob("*.md"))
    for page in own:
        copy_with_links(page, book)
    for style in OWN_PAGES.glob("*.css"):  # mkdocs.yml's extra_css
        shutil.copy2(style, book / style.name)
    shutil.copytree(mathjax(), book / "assets" / "mathjax")

    nav = [
        {"Course map": "index.md"},
        {"Lessons": [f"lessons/{stem}.ipynb" for stem in stems]},
        {"Reports": reports},
    ]
    if own:
        nav.append({"This site": [p.name for p in own]})
    base = os.path.relpath(ROOT / "mkdocs.yml", out.resolve())
    config = {"INHERIT": base, "docs_dir": "book", "site_dir": "site", "nav": nav}
    # JSON is YAML: the generated file needs no YAML writer
    (out / "mkdocs.yml").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return nav


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, default=Path("build/notebooks"), help="executed lesson notebooks")
    parser.add_argument("--out", type=Path, default=Path("build"), help="where book/ and mkdocs.yml are written")
    args = parser.parse_args(argv)
    try:
        nav = assemble(args.notebooks, args.out)
    except BookError as err:
        print(f"assemble: {err}")
        return 1
    lessons_laid = len(nav[1]["Lessons"])
    print(f"assembled {lessons_laid} lessons and {len(nav[2]['Reports'])} reports into {args.out / 'book'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
