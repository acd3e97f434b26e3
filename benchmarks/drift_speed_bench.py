"""Issue 16 drift speed: the 1M x 20 numeric report and reference build against NannyML 0.13's
univariate drift calculator (KS + Wasserstein; its own venv, never a project dependency), the
previous statistics (the frozen copy, mlops_assets_tests/core/_drift_legacy.py), and MMD at
large n with its peak memory.

    python -m benchmarks.drift_speed_bench --repeats 5      # results/drift_speed.json

* warm: this process and one long-lived NannyML process (data loaded once), the sides
  interleaved round-robin with a rotating start (benchmarks.common.interleaved): our
  build_reference vs NannyML's fit, our report vs NannyML's calculate;
* cold: a new process per report, as a Dagster run starts one, the sides alternating: imports
  + loading the stored reference (ours: the JSON summary; NannyML: nothing, its fit is not
  timed) + the report; reading the batch's parquet file is timed apart and not counted;
* MMD: a child process per size (peak RSS from /proc, minus the RSS before the test), n per
  side 5,000 (exact), 10,000 (exact and random features), 100,000 (random features); plus the
  random-feature test's false-alarm rate and power at 10,000 per side.

NannyML venv: ``python3 -m venv /tmp/nannyml-venv && /tmp/nannyml-venv/bin/pip install
nannyml`` (0.13.1; Apache-2.0; pulls pandas, pyarrow, lightgbm, plotly: kept out of the
project's venv). It calculates the 1M-row batch in chunks of its reference chunk size (100,000
rows, 10 reference chunks for its alert thresholds): the same rows, its usual setting.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import interleaved, write_results  # noqa: E402

N_FEATURES = 20
SHIFTS = {0: 0.1, 1: 0.05}  # f00 +0.1 sd, f01 +0.05 sd; the other 18 unchanged

# A NannyML server: loads the data once, then answers "fit" / "calc" / "flags" on stdin.
NANNYML_CHILD = r'''
import json, sys, time
t0 = time.perf_counter()
import pandas as pd, nannyml as nml
t_import = time.perf_counter() - t0
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
cols = list(ref.columns); chunk = len(ref) // int(sys.argv[4])
def fit():
    c = nml.UnivariateDriftCalculator(column_names=cols, chunk_size=chunk,
        continuous_methods=["kolmogorov_smirnov", "wasserstein"])
    return c.fit(ref)
def flags(df, method):
    return [c for c in cols if bool(df[(c, method, "alert")].any())]
if sys.argv[3] == "cold":
    c = fit(); t0 = time.perf_counter(); c.calculate(cur).filter(period="analysis").to_df()
    print(json.dumps({"import_s": t_import, "report_s": time.perf_counter() - t0})); sys.exit()
calc = fit(); print("ready", flush=True)
for line in sys.stdin:
    cmd = line.strip(); t0 = time.perf_counter(); out = {}
    if cmd == "fit":
        calc = fit()
    elif cmd == "calc":
        df = calc.calculate(cur).filter(period="analysis").to_df()
        out = {"flagged_ks": flags(df, "kolmogorov_smirnov"),
               "flagged_wasserstein": flags(df, "wasserstein")}
    out["s"] = time.perf_counter() - t0
    print(json.dumps(out), flush=True)
'''

NATIVE_COLD = r'''
import json, sys, time
t0 = time.perf_counter()
from mlops_assets.core.drift import DriftConfig, ReferenceSummary, get_detector
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
ref = ReferenceSummary.from_dict(json.loads(open(sys.argv[1]).read()))
t_ref = time.perf_counter() - t0
import polars as pl
t0 = time.perf_counter(); cur = pl.read_parquet(sys.argv[2]); t_read = time.perf_counter() - t0
t0 = time.perf_counter()
get_detector("native").detect(ref, cur, DriftConfig(mmd=sys.argv[3] == "mmd"))
t_report = time.perf_counter() - t0
print(json.dumps({"import_s": t_import, "load_reference_s": t_ref, "read_batch_s": t_read,
                  "report_s": t_report, "cold_s": t_import + t_ref + t_report,
                  "modules": [m for m in ("torch", "scipy.stats") if m in sys.modules]}))
'''

MMD_CHILD = r'''
import json, sys, time
import numpy as np
from benchmarks.common import peak_rss_bytes, reset_peak_rss, rss_bytes
from mlops_assets.core.drift.mmd import mmd_permutation_test
n, method = int(sys.argv[1]), sys.argv[2]
r = np.random.default_rng(n)
x = r.normal(size=(n, 20)).astype(np.float32); y = r.normal(size=(n, 20)).astype(np.float32)
y[:, 0] += 0.05
reset_peak_rss(); base = rss_bytes()
t0 = time.perf_counter()
stat, p, _ = mmd_permutation_test(x, y, float(np.sqrt(20)), 100, method=method)
print(json.dumps({"n_per_side": n, "method": method, "permutations": 100,
                  "seconds": time.perf_counter() - t0, "mmd2": stat, "p_value": p,
                  "rss_before_bytes": base, "peak_rss_bytes": peak_rss_bytes(),
                  "peak_over_before_bytes": peak_rss_bytes() - base}))
'''


def make_frame(n: int, seed: int, shifts: dict[int, float] | None = None) -> pl.DataFrame:
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, N_FEATURES)).astype(np.float32)
    for j, s in (shifts or {}).items():
        x[:, j] += s
    return pl.DataFrame({f"f{j:02d}": x[:, j] for j in range(N_FEATURES)})


def legacy_detect(ref: Any, cur: pl.DataFrame, cfg: Any) -> Any:
    """The native report with the frozen previous statistics (same engine code path)."""
    from mlops_assets.core.drift import get_detector, native
    from mlops_assets_tests.core import _drift_legacy as old

    patch = {"ks_statistic": old.ks_statistic, "ks_pvalue": old.ks_pvalue,
             "sorted_numeric_columns": old.sorted_numeric_columns,
             "mmd_permutation_test": old.mmd_permutation_test,
             "thread_map": lambda fn, items: [fn(i) for i in items],
             "ks_and_effect": lambda r, c, s=None: (*old.ks_statistic(r, c, s), None),
             "numeric_feature": lambda *a, effect=None, **k: old.numeric_feature(*a, **k)}
    saved = {k: getattr(native, k) for k in patch}
    try:
        for k, v in patch.items():
            setattr(native, k, v)
        return get_detector("native").detect(ref, cur, cfg)
    finally:
        for k, v in saved.items():
            setattr(native, k, v)


def legacy_build(frame: pl.DataFrame) -> Any:
    """build_reference as it was: np.sort + np.quantile + np.histogram per column, one column
    after another (the frozen _summarize_numeric); sample and sigma the same code."""
    from mlops_assets.core.drift import build_reference, reference
    from mlops_assets_tests.core import _drift_legacy as old

    saved = (reference.sorted_values, reference.thread_map, reference._summarize_sorted)
    try:
        reference.sorted_values = lambda s: None  # type: ignore
        reference.thread_map = lambda fn, items: [fn(i) for i in items]  # type: ignore
        reference._summarize_sorted = (  # type: ignore
            lambda c, _arr, _n, q, b: old._summarize_numeric(c, frame[c], q, b))
        return build_reference(frame, frame.columns, [])
    finally:
        reference.sorted_values, reference.thread_map, reference._summarize_sorted = saved


def child(argv: list[str], py: str | None = None) -> dict[str, Any]:
    out = subprocess.run([py or sys.executable, *argv], capture_output=True, text=True,
                         check=True, cwd=ROOT, env=_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def _env() -> dict[str, str]:
    # NannyML's usage analytics would try the network on every run.
    return {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NML_DISABLE_USAGE_LOGGING": "1",
            "HOME": os.environ.get("HOME", "/tmp")}


class NannyServer:
    def __init__(self, py: str, ref: Path, cur: Path, chunks: int) -> None:
        self.p = subprocess.Popen([py, "-c", NANNYML_CHILD, str(ref), str(cur), "warm",
                                   str(chunks)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, cwd=ROOT, env=_env())
        assert self.p.stdout is not None and self.p.stdout.readline().strip() == "ready"
        self.last: dict[str, Any] = {}

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        self.last = json.loads(self.p.stdout.readline())
        return self.last

    def close(self) -> None:
        assert self.p.stdin is not None
        self.p.stdin.close()
        self.p.wait(60)


def rff_calibration(n: int, reps_null: int, reps_shift: int) -> dict[str, Any]:
    """False-alarm rate (no shift) and power (+0.05 sd in one feature) of the random-feature
    test at n per side, 100 permutations, alpha 0.05; exact test's power alongside."""
    from mlops_assets.core.drift.mmd import mmd_permutation_test

    out: dict[str, Any] = {"n_per_side": n, "alpha": 0.05, "permutations": 100}
    for label, shift, reps in (("null", 0.0, reps_null), ("shift_0.05sd", 0.05, reps_shift)):
        ps = []
        for i in range(reps):
            r = np.random.default_rng(1000 + i)
            x = r.normal(size=(n, N_FEATURES)).astype(np.float32)
            y = r.normal(size=(n, N_FEATURES)).astype(np.float32)
            y[:, 0] += shift
            ps.append(mmd_permutation_test(x, y, float(np.sqrt(N_FEATURES)), 100, seed=i,
                                           method="rff")[1])
        out[label] = {"repetitions": reps, "rejection_rate": float(np.mean(np.array(ps) < 0.05)),
                      "p_values": ps}
    return out


def _flags(rep: Any) -> dict[str, list[str]]:
    return {"ks_significant": [f.feature for f in rep.features if f.significant],
            "drifted": rep.drifted_features()}


def mmd_part(a: argparse.Namespace, log: Any) -> dict[str, Any]:
    """MMD at large n, a child per size (peak memory of the test alone), and the random-feature
    test's calibration."""
    res: dict[str, Any] = {"mmd": []}
    for spec in a.mmd:
        n, method = spec.split(":")
        log(f"mmd {spec}")
        res["mmd"].append(child(["-c", MMD_CHILD, n, method]))
        log(f"  {res['mmd'][-1]['seconds']:.2f}s")
    n, r0, r1 = a.rff_calibration
    if r0 or r1:
        log("rff calibration")
        res["rff_calibration"] = rff_calibration(n, r0, r1)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--ref-rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cold-repeats", type=int, default=5)
    p.add_argument("--nannyml-python", default="/tmp/nannyml-venv/bin/python")
    p.add_argument("--name", default="drift_speed")
    p.add_argument("--mmd", nargs="*", default=["5000:exact", "10000:exact", "10000:rff",
                                                 "100000:rff"])
    p.add_argument("--rff-calibration", type=int, nargs=3, default=[10_000, 100, 20],
                   metavar=("N", "NULL_REPS", "SHIFT_REPS"))
    p.add_argument("--only-mmd", action="store_true", help="the MMD part alone")
    a = p.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    cmd = "python -m benchmarks.drift_speed_bench " + " ".join(argv or sys.argv[1:])
    if a.only_mmd:
        path = write_results(a.name, {"command": cmd, **mmd_part(a, log)})
        log(f"wrote {path}")
        return 0
    from mlops_assets.core.drift import DriftConfig, build_reference, get_detector

    res: dict[str, Any] = {"command": cmd, "rows": a.rows, "ref_rows": a.ref_rows,
                           "features": N_FEATURES,
                           "shifted_sd": {f"f{j:02d}": s for j, s in SHIFTS.items()}}
    ref_frame, cur = make_frame(a.ref_rows, 0), make_frame(a.rows, 1, SHIFTS)
    ref = build_reference(ref_frame, ref_frame.columns, [])
    tmp = Path(tempfile.mkdtemp())
    ref_frame.write_parquet(tmp / "ref.parquet")
    cur.write_parquet(tmp / "cur.parquet")
    (tmp / "ref.json").write_text(json.dumps(ref.to_dict()))
    chunks = 10
    native = get_detector("native")
    cfg, cfg_nommd = DriftConfig(), DriftConfig(mmd=False)
    fns: dict[str, Any] = {}
    nml = None
    if Path(a.nannyml_python).exists():
        log("starting NannyML")
        nml = NannyServer(a.nannyml_python, tmp / "ref.parquet", tmp / "cur.parquet", chunks)
        fns["nannyml_fit"] = lambda: nml.ask("fit")
    # ---- warm, interleaved: reference build vs fit ----
    log("reference build (warm, interleaved)")
    res["build_warm"] = interleaved({**fns, "native_build": lambda: build_reference(
        ref_frame, ref_frame.columns, []), "legacy_build": lambda: legacy_build(ref_frame)},
        a.repeats, log=log)
    # ---- warm, interleaved: the report ----
    log("report (warm, interleaved)")
    rep_fns: dict[str, Any] = {
        "native_report": lambda: native.detect(ref, cur, cfg),
        "native_report_no_mmd": lambda: native.detect(ref, cur, cfg_nommd),
        "legacy_report_no_mmd": lambda: legacy_detect(ref, cur, cfg_nommd)}
    if nml is not None:
        rep_fns["nannyml_calculate"] = lambda: nml.ask("calc")
    res["report_warm"] = interleaved(rep_fns, a.repeats, log=log)
    after, before = native.detect(ref, cur, cfg), legacy_detect(ref, cur, cfg)
    res["flagged"] = {"native": _flags(after), "legacy": _flags(before)}
    if nml is not None:
        res["flagged"]["nannyml"] = {k: v for k, v in nml.ask("calc").items() if k != "s"}
        nml.close()
    res["same_as_legacy"] = {
        "ks_statistic": [f.statistic for f in after.features]
        == [f.statistic for f in before.features],
        "ks_p_max_abs_diff": max(abs(x.p_value - y.p_value) for x, y in zip(
            after.features, before.features, strict=True)),
        "wasserstein_max_rel_diff": max(abs(x.effect_size - y.effect_size) / y.effect_size
                                        for x, y in zip(after.features, before.features,
                                                        strict=True)),
        "mmd2": [after.multivariate.statistic, before.multivariate.statistic]
        if after.multivariate and before.multivariate else None}
    # ---- cold: a new process per report, sides alternating ----
    cold: dict[str, list[dict[str, Any]]] = {"native_report": [], "native_report_no_mmd": [],
                                             "nannyml_calculate": []}
    for i in range(a.cold_repeats):
        log(f"cold round {i + 1}")
        order = list(cold)[i % 3:] + list(cold)[:i % 3]
        for k in order:
            if k == "nannyml_calculate":
                if nml is not None:
                    cold[k].append(child(["-c", NANNYML_CHILD, str(tmp / "ref.parquet"),
                                          str(tmp / "cur.parquet"), "cold", str(chunks)],
                                         a.nannyml_python))
            else:
                cold[k].append(child(["-c", NATIVE_COLD, str(tmp / "ref.json"),
                                      str(tmp / "cur.parquet"),
                                      "mmd" if k == "native_report" else "nommd"]))
    for k, runs in cold.items():
        key = "cold_s" if k.startswith("native") else None
        tot = [r[key] if key else r["import_s"] + r["report_s"] for r in runs]
        res.setdefault("report_cold", {})[k] = {"median_s": float(np.median(tot)) if tot else
                                                None, "runs": runs}
    res.update(mmd_part(a, log))
    path = write_results(a.name, res)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
