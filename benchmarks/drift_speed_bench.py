"""Issue 16 drift speed: 1M x 20 numeric report and reference build, before (the frozen
pre-issue-16 statistics, mlops_assets_tests/core/_drift_legacy.py) vs after vs NannyML 0.13's
univariate drift calculator (KS + Wasserstein, run in its own venv: it is not a dependency), and
MMD at large n. Sides are interleaved (round-robin, rotating start) after one warm-up; cold =
a new process per run (import + build inputs untimed? no: import + detect timed, the input is
read from a parquet file untimed), as Dagster runs a report.

    python -m benchmarks.drift_speed_bench --rows 1000000 --repeats 3 \
        --nannyml-python /tmp/nannyml-venv/bin/python    # results/drift_speed.json

NannyML venv: ``python3.11 -m venv /tmp/nannyml-venv && /tmp/nannyml-venv/bin/pip install
nannyml==0.13.1 polars`` (NannyML pulls pyarrow, lightgbm, xgboost, plotly: kept out of the
project's venv on purpose).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import interleaved, write_results  # noqa: E402

N_FEATURES = 20

NANNYML_CHILD = r'''
import json, sys, time
t0 = time.perf_counter()
import pandas as pd, nannyml as nml
t_import = time.perf_counter() - t0
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
cols = list(ref.columns)
def fit():
    c = nml.UnivariateDriftCalculator(column_names=cols, continuous_methods=["kolmogorov_smirnov",
        "wasserstein"], chunk_size=len(ref) // int(sys.argv[4]))
    c.fit(ref)
    return c
def calc(c):
    return c.calculate(cur).filter(period="analysis").to_df()
mode = sys.argv[3]
out = {"import_s": t_import}
if mode == "cold":
    c = fit(); t0 = time.perf_counter(); df = calc(c); out["report_s"] = time.perf_counter() - t0
    out["cold_total_s"] = t_import + out["report_s"]
else:
    reps = int(sys.argv[5]); fits = []; calcs = []
    c = fit(); calc(c)  # warm-up
    for _ in range(reps):
        t0 = time.perf_counter(); c = fit(); fits.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); df = calc(c); calcs.append(time.perf_counter() - t0)
    out["fit_s"] = fits; out["report_s"] = calcs
    flagged = []
    for col in cols:
        if bool(df[(col, "kolmogorov_smirnov", "alert")].iloc[0]):
            flagged.append(col)
    out["flagged_ks"] = flagged
    out["flagged_wasserstein"] = [col for col in cols
                                   if bool(df[(col, "wasserstein", "alert")].iloc[0])]
print(json.dumps(out))
'''

NATIVE_COLD = r'''
import json, sys, time
t0 = time.perf_counter()
import polars as pl
from mlops_assets.core.drift import DriftConfig, ReferenceSummary, get_detector
ref = ReferenceSummary.from_dict(json.loads(open(sys.argv[1]).read()))
cur = pl.read_parquet(sys.argv[2])
t1 = time.perf_counter()
rep = get_detector("native").detect(ref, cur, DriftConfig(mmd=sys.argv[3] == "mmd"))
t2 = time.perf_counter()
print(json.dumps({"import_load_s": t1 - t0, "detect_s": t2 - t1, "total_s": t2 - t0,
                  "modules": [m for m in ("torch", "scipy.stats") if m in sys.modules]}))
'''


def make_frame(n: int, seed: int, shifts: dict[int, float] | None = None) -> pl.DataFrame:
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, N_FEATURES)).astype(np.float32)
    for j, s in (shifts or {}).items():
        x[:, j] += s
    return pl.DataFrame({f"f{j:02d}": x[:, j] for j in range(N_FEATURES)})


def legacy_detect(ref: Any, cur: pl.DataFrame, cfg: Any) -> Any:
    """The native report with the frozen pre-issue-16 statistics (same engine code path)."""
    from mlops_assets.core.drift import get_detector, native
    from mlops_assets_tests.core import _drift_legacy as old

    saved = {k: getattr(native, k) for k in ("ks_statistic", "ks_pvalue", "numeric_feature",
                                              "sorted_numeric_columns", "mmd_permutation_test",
                                              "thread_map")}
    try:
        for k in saved:
            if k == "thread_map":
                native.thread_map = lambda fn, items: [fn(i) for i in items]  # type: ignore
            else:
                setattr(native, k, getattr(old, k))
        return get_detector("native").detect(ref, cur, cfg)
    finally:
        for k, v in saved.items():
            setattr(native, k, v)


def legacy_build(frame: pl.DataFrame) -> Any:
    """build_reference as it was: np.sort + np.quantile per column, one column after another
    (the frozen _summarize_numeric), everything else (sample, sigma) the same code."""
    from mlops_assets.core.drift import build_reference, reference
    from mlops_assets_tests.core import _drift_legacy as old

    saved = (reference.sorted_numeric_columns, reference.thread_map, reference._summarize_sorted)
    try:
        reference.sorted_numeric_columns = lambda f, names: dict.fromkeys(names)  # type: ignore
        reference.thread_map = lambda fn, items: [fn(i) for i in items]  # type: ignore
        reference._summarize_sorted = (  # type: ignore
            lambda c, _arr, _n, q, b: old._summarize_numeric(c, frame[c], q, b))
        return build_reference(frame, frame.columns, [])
    finally:
        (reference.sorted_numeric_columns, reference.thread_map,
         reference._summarize_sorted) = saved


def new_build(frame: pl.DataFrame) -> Any:
    from mlops_assets.core.drift import build_reference

    return build_reference(frame, frame.columns, [])


def child(argv: list[str], py: str | None = None) -> dict[str, Any]:
    out = subprocess.run([py or sys.executable, *argv], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--ref-rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--nannyml-python", default="/tmp/nannyml-venv/bin/python")
    p.add_argument("--name", default="drift_speed")
    p.add_argument("--mmd-n", type=int, nargs="*", default=[100_000])
    a = p.parse_args(argv)
    from mlops_assets.core.drift import DriftConfig
    from mlops_assets.core.drift.statistics import mmd_permutation_test

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    cmd = "python -m benchmarks.drift_speed_bench " + " ".join(argv or sys.argv[1:])
    res: dict[str, Any] = {"command": cmd, "rows": a.rows, "ref_rows": a.ref_rows,
                           "features": N_FEATURES, "shifted": {"f00": 0.1, "f01": 0.05}}
    ref_frame = make_frame(a.ref_rows, 0)
    cur = make_frame(a.rows, 1, {0: 0.1, 1: 0.05})
    ref = new_build(ref_frame)
    cfg_nommd = DriftConfig(mmd=False)
    cfg = DriftConfig()
    tmp = Path(tempfile.mkdtemp())
    ref_frame.write_parquet(tmp / "ref.parquet")
    cur.write_parquet(tmp / "cur.parquet")
    (tmp / "ref.json").write_text(json.dumps(ref.to_dict()))
    have_nml = Path(a.nannyml_python).exists()
    chunks = 10

    # ---- warm, in this process, interleaved ----
    log("reference build")
    res["build_reference"] = interleaved(
        {"before": lambda: legacy_build(ref_frame), "after": lambda: new_build(ref_frame)},
        a.repeats, log=log)
    log("report")
    res["report_warm"] = interleaved({
        "before_no_mmd": lambda: legacy_detect(ref, cur, cfg_nommd),
        "after_no_mmd": lambda: __import__("mlops_assets.core.drift", fromlist=["x"])
        .get_detector("native").detect(ref, cur, cfg_nommd),
        "before_mmd2000": lambda: legacy_detect(ref, cur, cfg),
        "after_mmd2000": lambda: __import__("mlops_assets.core.drift", fromlist=["x"])
        .get_detector("native").detect(ref, cur, cfg),
    }, a.repeats, log=log)
    from mlops_assets.core.drift import get_detector

    after = get_detector("native").detect(ref, cur, cfg_nommd)
    res["flagged_after_calibration_free"] = {
        "ks_significant": [f.feature for f in after.features if f.significant],
        "drifted": after.drifted_features()}
    before = legacy_detect(ref, cur, cfg_nommd)
    res["identical_features_before_after"] = [vars(f) for f in after.features] == [
        vars(f) for f in before.features]
    # ---- NannyML warm (its own process; fit + calculate interleaved in it) ----
    if have_nml:
        log("nannyml warm")
        res["nannyml_warm"] = child(["-c", NANNYML_CHILD, str(tmp / "ref.parquet"),
                                     str(tmp / "cur.parquet"), "warm", str(chunks),
                                     str(a.repeats)], a.nannyml_python)
    # ---- cold: a new process per run, sides alternating ----
    cold: dict[str, list[dict[str, Any]]] = {"native_no_mmd": [], "native_mmd2000": [],
                                             "nannyml": []}
    for i in range(a.repeats):
        log(f"cold round {i + 1}")
        cold["native_no_mmd"].append(child(["-c", NATIVE_COLD, str(tmp / "ref.json"),
                                            str(tmp / "cur.parquet"), "nommd"]))
        cold["native_mmd2000"].append(child(["-c", NATIVE_COLD, str(tmp / "ref.json"),
                                             str(tmp / "cur.parquet"), "mmd"]))
        if have_nml:
            cold["nannyml"].append(child(["-c", NANNYML_CHILD, str(tmp / "ref.parquet"),
                                          str(tmp / "cur.parquet"), "cold", str(chunks)],
                                         a.nannyml_python))
    res["report_cold"] = cold
    # ---- MMD at large n ----
    mmd = []
    for n in a.mmd_n:
        r = np.random.default_rng(n)
        x = r.normal(size=(n, N_FEATURES)).astype(np.float32)
        y = r.normal(size=(n, N_FEATURES)).astype(np.float32)
        y[:, 0] += 0.05
        t0 = time.perf_counter()
        stat, pv, _ = mmd_permutation_test(x, y, float(np.sqrt(N_FEATURES)), 100)
        mmd.append({"n_per_side": n, "method": "rff" if 2 * n > 10_000 else "exact",
                    "seconds": time.perf_counter() - t0, "mmd2": stat, "p_value": pv})
        log(f"mmd {mmd[-1]}")
    res["mmd"] = mmd
    path = write_results(a.name, res)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
