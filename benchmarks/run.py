"""The benchmark harness: one command for every benchmark, or the named ones.

    python -m benchmarks.run                         # every entry
    python -m benchmarks.run versioning overhead     # the named entries
    python -m benchmarks.run --quick                 # tiny sizes, plumbing only (a few minutes)
    python -m benchmarks.run memory --repeats 7

Each entry times a warm-up run and then at least ``--repeats`` (default 5) runs, reports the
median with the spread, measures the sides of a comparison alternately in the same process (a
ratio of medians taken side by side), records the machine (cores, memory, load average, library
versions), writes ``benchmarks/results/<name>.json`` (``<name>_quick.json`` with --quick) and,
for full runs, regenerates the entry's marked section of ``docs/benchmarks.md`` (text outside
the ``<!-- bench:NAME:start/end -->`` markers is left alone).

Entries: versioning, overhead, load_time, memory, loop (issue 6; loop runs 3 repeats, each
with its own bootstrap and a real dagster-daemon), stack_loop (issue 11: new_batch_job through
the landing sensor on the production stack and the embedded one, both up at once, rounds
alternating; 35 min on a loaded machine: only when named), features, drift, detection and
serving (their own modules' main(); their sections of docs/benchmarks.md are written by hand). In
a full run ``features`` is run at 1M rows only and ``drift`` with its --quick sizes (results
``features_1m.json``, ``drift_quick.json``), so that everything fits in about 15 minutes;
``--long`` runs both at their own defaults (10M rows; drift up to 1M rows with alibi-detect:
about 30 minutes more).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, machine_info, update_doc_section, write_results

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
OWN = ("versioning", "overhead", "load_time", "memory", "loop", "stack_loop")
ALL = (*OWN, "features", "drift", "detection", "serving")
# stack_loop starts both stacks and runs for half an hour: run it by name.
DEFAULT = tuple(n for n in ALL if n != "stack_loop")
TITLES = {
    "versioning": "Versioning cost against data size (lakeFS vs a copied folder)",
    "overhead": "Platform overhead (plain functions vs Dagster + lakeFS)",
    "load_time": "Code location load time",
    "memory": "Peak memory of the feature build and the drift report",
    "loop": "The loop: a drifted batch lands -> promoted or rejected challenger (daemon running)",
    "stack_loop": "Throughput of the loop: production stack vs embedded (issue 11)",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"benchmarks.{name}_bench")


def run_features(quick: bool, repeats: int, out_dir: Path, long: bool) -> dict[str, Any]:
    argv = ["--repeats", str(repeats), "--out-dir", str(out_dir)]
    if quick:
        argv += ["--quick"]
    elif not long:
        # Own results file: features.json is the long (10M-row) run quoted in the docs.
        argv += ["--rows", "1000000", "--small-rows", "0", "--no-memory",
                 "--name", "features_1m"]
    return _module("features").main(argv)


def run_drift(quick: bool, repeats: int, out_dir: Path, long: bool) -> dict[str, Any]:
    name = "drift_quick" if quick or not long else "drift"
    argv = ["--repeats", str(repeats), "--out", str(out_dir / f"{name}.json")]
    if quick or not long:
        argv.append("--quick")
    _module("drift").main(argv)
    return {"results_file": str(out_dir / f"{name}.json")}


def run_detection(quick: bool, out_dir: Path) -> dict[str, Any]:
    # Detection quality (issue 9): own results file, section of docs/benchmarks.md by hand.
    name = "detection_quick" if quick else "detection"
    argv = ["--out", str(out_dir / f"{name}.json"), *(["--quick"] if quick else [])]
    _module("detection").main(argv)
    return {"results_file": str(out_dir / f"{name}.json")}


def run_serving(quick: bool, out_dir: Path, lakefs_server: Any = None) -> dict[str, Any]:
    # Serving latency (issue 12): own results file, section of docs/benchmarks.md by hand.
    argv = ["--out-dir", str(out_dir), *(["--quick"] if quick else [])]
    return _module("serving").main(argv, server_info=lakefs_server)


def run_entry(name: str, quick: bool, repeats: int | None, out_dir: Path, long: bool = False,
              lakefs_server: Any = None, command: str = "") -> dict[str, Any]:
    """Run one entry; for our own entries write ``<out_dir>/<name>[_quick].json`` and return
    the document written (benchmark, created, machine, results)."""
    if name == "features":
        return run_features(quick, repeats or (2 if quick else 5), out_dir, long)
    if name == "drift":
        return run_drift(quick, repeats or (2 if quick else 5), out_dir, long)
    if name == "detection":
        return run_detection(quick, out_dir)
    if name == "serving":
        return run_serving(quick, out_dir, lakefs_server)
    mod = _module(name)
    kwargs: dict[str, Any] = {"quick": quick, "repeats": repeats}
    if name in ("versioning", "overhead", "loop"):
        kwargs["server"] = lakefs_server
    t0 = time.perf_counter()
    load_before = machine_info()["load_average"]
    results = mod.run(**kwargs)
    results["wall_s"] = time.perf_counter() - t0
    results["load_average_before"] = load_before
    results["markdown"] = mod.markdown(results)
    results["command"] = command
    path = write_results(f"{name}_quick" if quick else name, results, out_dir)
    import json

    return json.loads(path.read_text())


def doc_section(name: str, doc: dict[str, Any], command: str) -> str:
    mod = _module(name)
    m = doc["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    load = doc["results"].get("load_average_before") or m["load_average"]
    body = [
        f"## {TITLES[name]}",
        "",
        "Command (results in `benchmarks/results/" + f"{name}.json`):",
        "",
        "```bash",
        f".venv/bin/{command}",
        "```",
        "",
        f"Run {doc['created']} on {m['cpu_model']}, {m['usable_cores']} cores, "
        f"{(m['memory_total_bytes'] or 0) / 2**30:.1f} GiB, Python {m['python']}, {versions}; "
        f"load average {load[0]:.1f} before / {m['load_average'][0]:.1f} after "
        f"(1 min; the machine was shared). "
        f"Wall time of the entry: {doc['results']['wall_s']:.0f} s.",
        "",
        mod.markdown(doc["results"]),
    ]
    notes = getattr(mod, "notes", None)
    if notes:
        body += ["", notes(doc["results"])]
    return "\n".join(body)


def main(argv: list[str] | None = None, lakefs_server: Any = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help=f"entries: {', '.join(ALL)}")
    p.add_argument("--quick", action="store_true", help="tiny sizes: plumbing only")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5)")
    p.add_argument("--long", action="store_true",
                   help="features and drift at their own (long) default sizes")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--docs", type=Path, default=None,
                   help="markdown file to update (default docs/benchmarks.md for full runs, "
                   "none for --quick)")
    p.add_argument("--no-docs", action="store_true", help="do not update any markdown file")
    args = p.parse_args(argv)
    names = args.names or list(DEFAULT)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; known: {', '.join(ALL)}")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    doc_path = None if args.no_docs else args.docs or (None if args.quick else DOC)
    command = "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    for name in names:
        log(f"== {name} ==")
        t = time.perf_counter()
        doc = run_entry(name, args.quick, args.repeats, args.out_dir, args.long, lakefs_server,
                        command.strip())
        log(f"== {name} done in {time.perf_counter() - t:.0f} s ==")
        out[name] = doc
        if name in OWN:
            print(f"\n### {name}\n\n{doc['results']['markdown']}\n", flush=True)
            if doc_path is not None:
                update_doc_section(doc_path, name, doc_section(name, doc, command.strip()))
    log(f"all done in {time.perf_counter() - t0:.0f} s")
    return out


if __name__ == "__main__":
    main()
