"""Check a built course site before anyone reads it.

    python docs/check_book.py build/site

Fails (exit 1, one line per fault) unless
- every lesson (notebooks/NN_name.ipynb) has its page, lessons/NN_name/index.html, holding a rendered notebook;
- every <img> in the site loads: a data: URI with a payload that decodes, or a file that exists in the site;
  and so does every <script src> (MathJax, the theme's scripts);
- no cell output is an error: no error output in the lessons' notebooks shipped with the site, and no traceback
  (nor a line like `ValueError: ...`) in a page's stderr or error outputs.
`make book` runs it after `mkdocs build`; tests/test_book.py feeds it a hand-made site with each fault.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
STDERR = "application/vnd.jupyter.stderr"
ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception)(?::|$)", re.MULTILINE)
TRACEBACK = "Traceback (most recent call last)"


def lesson_stems() -> list[str]:
    """The lessons the site must have, in course order: notebooks/NN_name.ipynb."""
    return [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]


class PageParser(HTMLParser):
    """Collects a page's <img> and <script> sources and the text of its stderr/error output areas."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[str | None] = []
        self.scripts: list[str | None] = []
        self.stderr_texts: list[str] = []
        self.notebook = False
        self._depth = 0  # > 0 while inside a stderr output area
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        classes = (attr.get("class") or "").split()
        if "jupyter-wrapper" in classes:
            self.notebook = True
        if tag == "img":
            self.images.append(attr.get("src"))
        if tag == "script" and "src" in attr:
            self.scripts.append(attr["src"])
        if tag in VOID:
            return
        if self._depth:
            self._depth += 1
        elif "jp-OutputArea-output" in classes and attr.get("data-mime-type") == STDERR:
            self._depth = 1
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if self._depth and tag not in VOID:
            self._depth -= 1
            if not self._depth:
                self.stderr_texts.append("".join(self._text))

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._text.append(data)


def load_fault(src: str | None, page: Path, site: Path) -> str | None:
    """Why the image or script `src` on `page` would not load, or None when it loads."""
    if not src or not src.strip():
        return "no source (src missing or empty)"
    if src.startswith("data:"):
        header, sep, payload = src.partition(",")
        if not sep or not payload.strip():
            return f"empty data: URI ({header[:40]})"
        if header.endswith(";base64"):
            try:
                if not base64.b64decode(payload, validate=True):
                    return "data: URI that decodes to nothing"
            except (binascii.Error, ValueError):
                return f"data: URI whose base64 does not decode ({header[:40]})"
        return None
    parts = urlsplit(src)
    if parts.scheme or parts.netloc:
        return f"{src[:80]} lies outside the site"
    path = unquote(parts.path)
    target = (site / path.lstrip("/")) if path.startswith("/") else (page.parent / path)
    target = target.resolve()
    if site.resolve() not in target.parents or not target.is_file():
        return f"{src[:80]} is not a file in the site"
    return None


def output_errors(texts: list[str]) -> list[str]:
    """The first line of each stderr/error output text that reads as a Python error or traceback."""
    found = []
    for text in texts:
        if TRACEBACK in text:
            found.append(next(line for line in text.splitlines() if TRACEBACK in line).strip())
        elif match := ERROR_LINE.search(text):
            found.append(text[match.start() :].strip().splitlines()[0])
    return found


def notebook_errors(path: Path) -> list[str]:
    """`cell N: Ename: value` for every error output stored in the notebook at `path`."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return [
        f"cell {i + 1}: {out.get('ename', '?')}: {out.get('evalue', '')}"
        for i, cell in enumerate(cells)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def check_site(site: Path, lessons: list[str]) -> list[str]:
    """Every fault found in the built site at `site`, one line each; empty when the site is sound."""
    if not (site / "index.html").is_file():
        return [f"{site}: no index.html: is this a built site?"]
    faults = []
    for stem in lessons:
        page = site / "lessons" / stem / "index.html"
        if not page.is_file():
            faults.append(f"lesson {stem}: no page ({page.relative_to(site)} is missing)")
            continue
        parser = PageParser()
        parser.feed(page.read_text(encoding="utf-8"))
        if not parser.notebook:
            faults.append(f"lesson {stem}: {page.relative_to(site)} holds no rendered notebook")
    for page in sorted(site.rglob("*.html")):
        parser = PageParser()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        name = page.relative_to(site)
        for kind, sources in (("image", parser.images), ("script", parser.scripts)):
            for src in sources:
                if why := load_fault(src, page, site):
                    faults.append(f"{name}: {kind} does not load: {why}")
        for line in output_errors(parser.stderr_texts):
            faults.append(f"{name}: a cell output is an error: {line[:160]}")
    for notebook in sorted(site.rglob("*.ipynb")):
        for line in notebook_errors(notebook):
            faults.append(f"{notebook.relative_to(site)}: {line[:160]}")
    return faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, nargs="?", default=Path("build/site"), help="the built site")
    args = parser.parse_args(argv)
    lessons = lesson_stems()
    faults = check_site(args.site, lessons)
    if faults:
        print(f"check_book: {len(faults)} fault(s) in {args.site}:", file=sys.stderr)
        for fault in faults:
            print(f"  {fault}", file=sys.stderr)
        return 1
    pages = len(list(args.site.rglob("*.html")))
    print(
        f"check_book: {args.site} is sound: {len(lessons)} lesson pages and {pages} pages in all, every image and "
        "script loads, no cell output is an error"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
