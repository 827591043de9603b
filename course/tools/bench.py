"""`python -m course.tools.bench [NOTEBOOK ...] [--json PATH] [--save]`: run solution notebooks headless, time them,
and print the metrics each reported (through course.report) against its target.

`--save` writes the executed notebooks back into solutions/ (how stored outputs are refreshed).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

import nbformat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resolve(names: list[str]) -> list[str]:
    """Return solution notebook paths for names like '02', '02_neural_network' or a path (all if empty)."""
    all_paths = sorted(glob.glob(os.path.join(ROOT, "solutions", "[0-9][0-9]_*.ipynb")))
    if not names:
        return all_paths
    found = []
    for name in names:
        if os.path.exists(name):
            found.append(os.path.abspath(name))
            continue
        matches = [p for p in all_paths if os.path.basename(p).startswith(os.path.basename(name).removesuffix(".ipynb"))]
        if not matches:
            raise SystemExit(f"no solution notebook matches {name!r}; have: {', '.join(os.path.basename(p) for p in all_paths)}")
        found.extend(matches)
    return found


def measured(run, errors: type[BaseException] | tuple) -> tuple[list[dict], str | None, float]:
    """Call `run()` with course.report recording into a fresh file; return (metrics, error line or None, seconds)."""
    from course.report import METRICS_ENV

    fd, metrics_file = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    os.environ[METRICS_ENV] = metrics_file
    error, start = None, time.perf_counter()
    try:
        run()
    except errors as err:
        error = str(err).strip().splitlines()[-1][:300]
    seconds = time.perf_counter() - start
    with open(metrics_file) as f:
        metrics = [json.loads(line) for line in f if line.strip()]
    os.remove(metrics_file)
    return metrics, error, seconds


def _polling_client(nb, **kwargs):
    """Return an nbclient NotebookClient whose wait for each cell's reply re-polls the kernel every 2 s.

    nbclient waits for a cell's execute_reply with one poll as long as the cell's timeout; after a cell that
    displays a widget that poll can miss the reply (nbclient issue #312, nbconvert #2029): here it hung for
    30 minutes with the kernel idle. Short polls in a loop find the reply; the cell timeout is unchanged.
    """
    from queue import Empty

    from nbclient import NotebookClient

    class PollingClient(NotebookClient):
        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()
            get_msg = kc.shell_channel.get_msg

            async def get_msg_polling(timeout: float | None = None, **kw):
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    step = 2.0 if deadline is None else max(0.0, min(2.0, deadline - time.monotonic()))
                    try:
                        return await get_msg(timeout=step, **kw)
                    except Empty:
                        if deadline is not None and time.monotonic() >= deadline:
                            raise

            kc.shell_channel.get_msg = get_msg_polling
            return kc

    return PollingClient(nb, **kwargs)


def run_notebook(path: str, save: bool = False, timeout: int = 1800) -> dict:
    """Execute one notebook; return {'notebook', 'seconds', 'budget_seconds', 'metrics', 'error'}."""
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = _polling_client(nb, timeout=timeout, kernel_name="python3",
                             resources={"metadata": {"path": os.path.dirname(path)}})
    metrics, error, seconds = measured(client.execute, CellExecutionError)  # the kernel inherits the environment
    if save and error is None:
        nbformat.write(nb, path)
    return {"notebook": os.path.basename(path).removesuffix(".ipynb"), "seconds": round(seconds, 1),
            "budget_seconds": nb.metadata.get("course", {}).get("budget_seconds"), "metrics": metrics, "error": error}


def run_transfer(folder: str | None) -> dict | None:
    """Measure the course's digits and judge on real digits (course.tools.transfer); None, with a note, without them."""
    from course.tools import transfer

    folder = folder or transfer.DEFAULT_FOLDER
    if not os.path.isdir(folder):
        print(transfer.skipped(folder))
        return None
    metrics, error, seconds = measured(lambda: transfer.measure(folder), AssertionError)
    return {"notebook": "real digits (transfer)", "seconds": round(seconds, 1), "budget_seconds": None,
            "metrics": metrics, "error": error}


def format_row(row: dict) -> list[str]:
    """Return the printed lines for one notebook's result."""
    budget = row["budget_seconds"]
    timing = f"{row['seconds']:7.1f} s" + (f" / {budget} s {'ok' if row['seconds'] <= budget else 'OVER'}" if budget else "")
    lines = [f"{row['notebook']:<28}{timing}" + (f"   ERROR: {row['error']}" if row["error"] else "")]
    for m in row["metrics"]:
        verdict = "" if m["ok"] is None else ("pass" if m["ok"] else "FAIL")
        target = m["target"] or "(reported)"
        lines.append(f"    {m['name']:<34}{m['value']:>10.4g}   {target:<12}{verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="*", help="names like 02 or 02_neural_network (default: all)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--save", action="store_true", help="store the executed outputs back into solutions/")
    parser.add_argument("--real-digits", default=None, help="folder of real MNIST test digits for the transfer "
                        "measurement (default when running every notebook: ../shared/data/mnist-dev, if present)")
    args = parser.parse_args(argv)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # the Makefile's Agg would store no figures
    if args.notebooks and not os.environ.get("COURSE_CACHE"):
        print("note: an empty model cache. A lesson that reuses an earlier lesson's models (04 reuses 02's, 07 05's, 08 05's "
              "and 07's, 10 05's, 07's and 08's) trains them too, and its time counts that; to time it alone, set "
              "COURSE_CACHE to a folder that holds them.", flush=True)
    os.environ.setdefault("COURSE_CACHE", tempfile.mkdtemp(prefix="course-bench-"))  # every model trains for real
    rows = []
    for path in resolve(args.notebooks):
        row = run_notebook(path, save=args.save)
        rows.append(row)
        print("\n".join(format_row(row)), flush=True)
    if args.real_digits or not args.notebooks:
        row = run_transfer(args.real_digits)
        if row:
            rows.append(row)
            print("\n".join(format_row(row)), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    failed = [r for r in rows if r["error"] or any(m["ok"] is False for m in r["metrics"])
              or (r["budget_seconds"] and r["seconds"] > r["budget_seconds"])]
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
