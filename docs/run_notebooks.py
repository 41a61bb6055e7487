"""Execute the lesson notebooks top to bottom on a fresh kernel and time them.

    python docs/run_notebooks.py                        # all lessons, fast mode, into build/notebooks
    python docs/run_notebooks.py 06 08_explore          # only these (by number, name or path)
    python docs/run_notebooks.py --full --out build/full --threads 2

Each notebook runs as Jupyter runs it: its own kernel (this Python's), working directory notebooks/, cells in
order. `--full` sets SAMTL_FAST=0 in the kernel's environment (the notebook's full recipe), otherwise SAMTL_FAST=1;
`--threads N` sets OMP_NUM_THREADS and MKL_NUM_THREADS. The executed copies are written into --out with their
outputs, a cell error stops the run with the notebook's name and the cell's number, and the wall seconds per
notebook are printed as a table and written to DIR/times.json. This is the course's command for the notebooks'
run times. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lessons() -> list[Path]:
    """The lesson notebooks in course order: notebooks/NN_name.ipynb."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def pick(names: list[str]) -> list[Path]:
    """The lessons named by number (`06`), name (`06_training`), file name or path; all when none is named."""
    every = lessons()
    if not names:
        return every
    chosen = []
    for name in names:
        stem = Path(name).stem
        hits = [p for p in every if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if len(hits) != 1:
            known = ", ".join(p.stem for p in every)
            raise SystemExit(f"run_notebooks: no single lesson called {name!r} (the lessons: {known})")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def kernel_env(full: bool, threads: int, tmpdir: str) -> dict[str, str]:
    """This process's environment with the mode, the thread count and a scratch TMPDIR for the kernel."""
    env = dict(os.environ)
    env.update(
        SAMTL_FAST="0" if full else "1",
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TMPDIR=tmpdir,
        MPLBACKEND="module://matplotlib_inline.backend_inline",
    )
    return env


class CellFailed(RuntimeError):
    """A cell raised: names the notebook, the cell and the error."""


def execute(path: Path, env: dict[str, str], timeout: int) -> nbformat.NotebookNode:
    """Run one notebook cell by cell on a new kernel in notebooks/; raise CellFailed naming the cell that failed."""
    nb = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(NOTEBOOKS)}}  # the kernel's working directory, as Jupyter sets it
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources)
    code_number = 0
    with client.setup_kernel(env=env):
        reply = client.wait_for_reply(client.kc.kernel_info())
        nb.metadata["language_info"] = reply["content"]["language_info"]
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            code_number += 1
            try:
                client.execute_cell(cell, index, store_history=True)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
                first = next((line for line in cell.source.splitlines() if line.strip()), "")
                if isinstance(err, CellExecutionError) and err.ename:
                    tail = f"{err.ename}: {err.evalue}"
                else:
                    tail = ANSI.sub("", str(err)).strip().splitlines()[-1]
                raise CellFailed(
                    f"{path.relative_to(ROOT)}: cell {index + 1} of {len(nb.cells)} (code cell {code_number}, "
                    f"starting {first[:80]!r}) failed:\n{tail}"
                ) from err
        client.set_widgets_metadata()
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="lessons to run (number, name or path); all when none")
    parser.add_argument("--full", action="store_true", help="full mode (SAMTL_FAST=0); fast mode otherwise")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS/MKL_NUM_THREADS (default 2)")
    parser.add_argument("--out", type=Path, default=Path("build/notebooks"), help="folder for the executed copies")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may run (default 3600)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    chosen = pick(args.notebooks)
    args.out.mkdir(parents=True, exist_ok=True)
    mode = "full" if args.full else "fast"
    print(f"running {len(chosen)} notebook(s) in {mode} mode, {args.threads} thread(s), into {args.out}", flush=True)

    times: dict[str, float] = {}
    scratch = tempfile.mkdtemp(prefix="samtl-notebooks-")
    try:
        for path in chosen:
            start = time.perf_counter()
            try:
                nb = execute(path, kernel_env(args.full, args.threads, scratch), args.timeout)
            except CellFailed as err:
                print(f"\nrun_notebooks: {err}", file=sys.stderr)
                return 1
            times[path.stem] = round(time.perf_counter() - start, 1)
            nbformat.write(nb, args.out / path.name)
            print(f"  {path.stem:<20} {times[path.stem]:8.1f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    total = round(sum(times.values()), 1)
    print(f"\n| notebook | wall s ({mode}, {args.threads} thread(s)) |\n|---|---:|")
    for stem, seconds in times.items():
        print(f"| {stem} | {seconds:.1f} |")
    print(f"| all | {total:.1f} |")
    record = {
        "mode": mode,
        "threads": args.threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s)",
        "seconds": times,
        "total_seconds": total,
    }
    (args.out / "times.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
