"""Detection quality of the calibrated drift verdict on streams with known change points.

Generator: mlops_assets.core.drift.synthetic.daily_stream (16 numeric + 4 categorical features,
weekday structure, rolling-rate features). Shapes: "daily" (one day per batch, n varies by
weekday) and "rows" (consecutive row chunks of a stream of 1,000-row days), and "iid" (row chunks
of an i.i.d. stream: no weekday or rolling structure; there alibi-detect's tests are valid and the
comparison with them is fair; on the structured shapes their FAR is the finding). Per size/shape:
false-alarm rate on no-change batches, detection rate per shift kind after the change point,
delay (batches from the change to the first alarm), and retrain events over a no-change stream
under the consecutive rule (3 in a row); alibi-detect KSDrift (Bonferroni, numeric features vs
the reference sample) and MMDDrift (pytorch, sigma given) at equal n as baselines.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mlops_assets.core.drift import DriftConfig, build_reference, calibrate_reference, get_detector
from mlops_assets.core.drift.synthetic import CATEGORICAL, NUMERIC, SHIFTS, daily_stream
from mlops_assets.core.retrain_policy import BatchVerdict, consecutive_events


def _batches(frame: pl.DataFrame, shape: str, size: int) -> list[pl.DataFrame]:
    if shape == "daily":
        return [f for _, f in frame.group_by("day", maintain_order=True)]
    return [frame.slice(i, size) for i in range(0, frame.height - size + 1, size)]


def _stream(shape: str, size: int, n_batches: int, shift: str, change: int, seed: int,
            start: int) -> tuple[pl.DataFrame, int]:
    """(stream, index of the first changed batch)."""
    if shape == "daily":
        return daily_stream(n_batches, size, shift=shift, change_day=start + change, seed=seed,
                            start_day=start), change
    per_day = 1000
    # The change happens at a day boundary: round the change up to whole days and report the
    # first batch that lies entirely after it (batches before it are all unchanged).
    change_days = int(np.ceil(change * size / per_day))
    days = change_days + int(np.ceil((n_batches - change) * size / per_day)) + 1
    frame = daily_stream(days, per_day, shift=shift, change_day=start + change_days, seed=seed,
                         start_day=start, structured=shape != "iid")
    first_after = int(np.ceil(change_days * per_day / size))
    return frame, first_after


def run_case(shape: str, size: int, ref_batches: int, pre: int, post: int, none_len: int,
             alibi_ks: bool, alibi_mmd_batches: int, log: Any) -> dict[str, Any]:
    cfg = DriftConfig(mmd_permutations=1)  # the verdict uses the calibrated MMD^2, not perms
    if shape == "daily":
        ref_frame = daily_stream(ref_batches, size, seed=100)
    else:
        # At least 42 days: the reference must span the day-level (rolling-rate) variation.
        ref_frame = daily_stream(max(42, int(np.ceil(ref_batches * size / 1000))), 1000,
                                 seed=100, structured=shape != "iid")
    ref = build_reference(ref_frame, NUMERIC, CATEGORICAL, score_column="score")
    t0 = time.perf_counter()
    ref.calibration = calibrate_reference(
        ref_frame, ref, config=cfg,
        **({"batch_column": "day"} if shape == "daily" else {"batch_rows": size}))
    calib_s = time.perf_counter() - t0
    native = get_detector("native")
    cd = None
    if alibi_ks or alibi_mmd_batches:
        import alibi_detect.cd as cd  # lazy: ~10 s import
        logging.getLogger("alibi_detect").setLevel(logging.ERROR)
    x_ref = np.asarray(ref.sample_array() * [ref.numeric[c].scale for c in NUMERIC]
                       + [ref.numeric[c].mean for c in NUMERIC], dtype=np.float32)
    ks = cd.KSDrift(x_ref, p_val=0.05, correction="bonferroni") if alibi_ks and cd else None
    mmd = None
    if alibi_mmd_batches and cd is not None:
        z_ref = ref.sample_array()[:min(1000, len(ref.sample))].astype(np.float32)
        mmd = cd.MMDDrift(z_ref, backend="pytorch", p_val=0.05, n_permutations=100,
                          sigma=np.array([ref.sigma], dtype=np.float32), device="cpu")
    means = np.array([ref.numeric[c].mean for c in NUMERIC])
    scales = np.array([ref.numeric[c].scale for c in NUMERIC])
    out: dict[str, Any] = {"shape": shape, "size": size, "ref_batches": ref_batches,
                           "calibration_s": calib_s, "shifts": {}}
    for k, shift in enumerate(SHIFTS):
        n_b = none_len if shift == "none" else pre + post
        change = n_b if shift == "none" else pre
        frame, first = _stream(shape, size, n_b, shift, change, seed=200 + k, start=10_000)
        if shift != "none":  # row chunks: the change sits on a day boundary
            change, n_b = first, first + post
        rows = []
        for i, b in enumerate(_batches(frame, shape, size)[:n_b]):
            rep = native.detect(ref, b, cfg)
            row = {"i": i, "after": i >= change, "n": b.height, "drifted": rep.drifted,
                   "score": rep.batch_score}
            if ks is not None:
                row["alibi_ks"] = bool(ks.predict(b.select(NUMERIC).to_numpy()
                                                  .astype(np.float32))["data"]["is_drift"])
            if mmd is not None and (i >= change or shift == "none") and sum(
                    "alibi_mmd" in r for r in rows) < alibi_mmd_batches:
                y = ((b.select(NUMERIC).to_numpy() - means) / scales)[:1000].astype(np.float32)
                row["alibi_mmd"] = bool(mmd.predict(y)["data"]["is_drift"])
            rows.append(row)
        before = [r for r in rows if not r["after"]]
        after = [r for r in rows if r["after"]]
        res: dict[str, Any] = {"batches": len(rows)}
        if before:
            res["false_alarm_rate"] = float(np.mean([r["drifted"] for r in before]))
        if after:
            res["detection_rate"] = float(np.mean([r["drifted"] for r in after]))
            first = next((r["i"] - change for r in after if r["drifted"]), None)
            res["delay_batches"] = first
        for m in ("alibi_ks", "alibi_mmd"):
            vals = [r[m] for r in (rows if shift == "none" else after) if m in r]
            if vals:
                res[m + ("_false_alarm_rate" if shift == "none" else "_detection_rate")] = \
                    float(np.mean(vals))
                res[m + "_batches"] = len(vals)
        if shift == "none":
            verdicts = [BatchVerdict(batch=f"{r['i']:05d}", check="no_data_drift",
                                     drifted=r["drifted"]) for r in rows]
            res["retrain_events_consecutive3"] = len(consecutive_events(verdicts, 3))
        out["shifts"][shift] = res
        log(f"  {shape} n={size} {shift}: {res}")
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = ["| shape | n | FAR (no change) | retrains / no-change stream | " +
             " | ".join(s for s in SHIFTS if s != "none") + " |",
             "|---|---:|---:|---:|" + "---:|" * (len(SHIFTS) - 1)]
    for case in result["cases"]:
        none = case["shifts"]["none"]
        cells = []
        for s in SHIFTS[1:]:
            r = case["shifts"][s]
            cell = f"{r['detection_rate']:.2f} (d {r['delay_batches']})"
            if "alibi_ks_detection_rate" in r:
                cell += f"; KS {r['alibi_ks_detection_rate']:.2f}"
            if "alibi_mmd_detection_rate" in r:
                cell += f"; MMD {r['alibi_mmd_detection_rate']:.2f}"
            cells.append(cell)
        far = f"{none['false_alarm_rate']:.3f} ({none['batches']})"
        if "alibi_ks_false_alarm_rate" in none:
            far += f"; KS {none['alibi_ks_false_alarm_rate']:.2f}"
        if "alibi_mmd_false_alarm_rate" in none:
            far += f"; MMD {none['alibi_mmd_false_alarm_rate']:.2f}"
        lines.append(f"| {case['shape']} | {case['size']:,} | {far} | "
                     f"{none['retrain_events_consecutive3']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    p.add_argument("--shapes", nargs="*", default=["daily", "rows", "iid"])
    p.add_argument("--medium", action="store_true", help="full sizes, shorter streams")
    p.add_argument("--no-alibi", action="store_true")
    args = p.parse_args(argv)
    # medium: every size and shape, shorter streams (fits ~15 min on 2 shared cores)
    short = args.quick or args.medium
    warnings.filterwarnings("ignore")

    def log(msg: str) -> None:
        print(msg, flush=True)

    sizes = args.sizes or ([100, 1000] if args.quick else [100, 1000, 10_000])
    t0 = time.perf_counter()
    cases = []
    for shape in args.shapes:
        for size in sizes:
            big = size >= 10_000
            cases.append(run_case(
                shape, size, ref_batches=30 if args.quick or big else 42,
                pre=5 if short else 8, post=5 if short else 10,
                none_len=30 if args.quick else (40 if big else 90),
                alibi_ks=not args.no_alibi, alibi_mmd_batches=0 if args.no_alibi or big
                else (2 if args.quick else 5), log=log))
    mode = "quick" if args.quick else "medium" if args.medium else "full"
    result = {"mode": mode, "cases": cases,
              "total_s": time.perf_counter() - t0}
    result["markdown"] = markdown(result)
    print(result["markdown"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
