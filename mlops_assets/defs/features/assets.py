"""Features: the point-in-time model table, one file per batch, audited and then published."""

from datetime import datetime, timedelta

import dagster as dg
import polars as pl

from mlops_assets.core.check_names import NO_LEAKAGE, NO_UNEXPECTED_NULLS
from mlops_assets.core.features import (
    TARGET,
    build_features,
    feature_code_version,
    feature_columns,
    rows_of_batch,
)
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import (
    add_partition_metadata,
    commit_run_branch,
    ensure_run_branch,
    frame_metadata,
    publish_run_branch,
)
from mlops_assets.platform import layout
from mlops_assets.platform.frames import frames_digest


def lookback_days(spec: DatasetSpec) -> int:
    """How many earlier batches a batch's features read (the longest rolling window)."""
    return max((r.window_days for r in spec.features.rolling_target_rates), default=0)


def build_features_asset(
    spec: DatasetSpec, partitions_def: dg.PartitionsDefinition, validated_batch: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    ds = spec.name
    lookback = lookback_days(spec)
    mapping = (
        dg.TimeWindowPartitionMapping(start_offset=-lookback)
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition) and lookback
        else None
    )

    @dg.asset(
        name="features",
        key_prefix=[ds],
        group_name=ds,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep(validated_batch, partition_mapping=mapping)],
        code_version=feature_code_version(spec),
        kinds={"polars", "lakefs"},
        check_specs=[
            dg.AssetCheckSpec(
                NO_LEAKAGE,
                asset=dg.AssetKey([ds, "features"]),
                blocking=True,
                description="a batch's features use nothing after the batch",
            ),
            dg.AssetCheckSpec(
                NO_UNEXPECTED_NULLS,
                asset=dg.AssetKey([ds, "features"]),
                blocking=True,
                description="every feature column is filled",
            ),
        ],
        description=f"{ds} model table: point-in-time rolling target rates over the previous "
        f"{lookback} day(s), time features, imputed numerics. Published when its audit passes.",
    )
    def features(context: dg.AssetExecutionContext, lakefs: LakeFS) -> dg.MaterializeResult:
        branch = ensure_run_branch(lakefs, context.run)
        keys = context.partition_keys
        history = _read_history(lakefs, branch, ds, keys, spec, lookback)
        table = build_features(history.lazy(), spec).collect()

        parts = {key: _rows_of(table, spec, key) for key in keys}
        lakefs.put_frames(branch, {layout.features(ds, key): part for key, part in parts.items()})
        commit_id = commit_run_branch(
            context,
            lakefs,
            branch,
            f"{ds}: features {keys[0]}..{keys[-1]}",
            feature_code_version=feature_code_version(spec),
        )

        checks = [
            _leakage_check(history, table, parts, spec),
            _null_check(table, spec),
        ]
        published = None
        if all(c.passed for c in checks):
            published = publish_run_branch(
                context, lakefs, f"{ds}: publish features",
                expected_paths=[layout.features(ds, key) for key in keys])
        numeric, categorical = feature_columns(spec)
        # Each partition points at its own file, at the commit that holds it on main when
        # published (else on the run branch): commit and URI come from the same id.
        at = published.commit_id if published else commit_id
        verdict = (f"published at `{at[:12]}`" if published
                   else "**audit failed: not published** (kept on the run branch)")
        add_partition_metadata(context, {
            key: {
                **frame_metadata(lakefs, branch, at, layout.features(ds, key), part,
                                 f"Batch {key}: {part.height} rows x "
                                 f"{len(numeric) + len(categorical)} features; {verdict}"),
                "published": bool(published),
            }
            for key, part in parts.items()
        })
        meta = {
            "lakefs_branch": branch,
            "feature_code_version": feature_code_version(spec),
            "numeric_features": dg.MetadataValue.json(numeric),
            "categorical_features": dg.MetadataValue.json(categorical),
        }
        return dg.MaterializeResult(
            data_version=dg.DataVersion(frames_digest(list(parts.values()))),
            metadata=meta,
            check_results=checks,
        )

    return features


def _read_history(
    lakefs: LakeFS, ref: str, ds: str, keys: list[str], spec: DatasetSpec, lookback: int
) -> pl.DataFrame:
    """The raw batches of the run plus the `lookback` days before the first one, when present."""
    wanted = set(keys)
    if spec.time_column is not None and lookback:
        first = datetime.fromisoformat(keys[0][:10])
        available = layout.keys_in(lakefs.list_objects(ref, layout.raw_prefix(ds)))
        earliest = (first - timedelta(days=lookback)).strftime("%Y-%m-%d")
        wanted |= {k for k in available if earliest <= k < keys[0]}
    frames = lakefs.get_frames(ref, [layout.raw_batch(ds, k) for k in sorted(wanted)])
    return pl.concat(frames, how="vertical_relaxed")


def _rows_of(table: pl.DataFrame, spec: DatasetSpec, key: str) -> pl.DataFrame:
    if spec.time_column is None:
        return rows_of_batch(table, spec, key)  # its own row block, not every row of the run
    start, end = spec.batch_window(key)
    t = pl.col(spec.time_column)
    return table.filter((t >= start) & (t < end))


def _leakage_check(
    history: pl.DataFrame, table: pl.DataFrame, parts: dict[str, pl.DataFrame], spec: DatasetSpec
) -> dg.AssetCheckResult:
    """Rebuild the first batch's features from only the data known by its end: they must be
    identical (nothing later leaked in), and every written row must sit inside its batch."""
    if spec.time_column is None:
        return dg.AssetCheckResult(
            check_name=NO_LEAKAGE,
            passed=True,
            metadata={"note": "no time column: batches are independent"},
        )
    first = next(iter(parts))
    _, end = spec.batch_window(first)
    known = history.filter(pl.col(spec.time_column) < end)
    rebuilt = _rows_of(build_features(known.lazy(), spec).collect(), spec, first)
    original = _rows_of(table, spec, first)
    identical = rebuilt.equals(original)
    outside = sum(part.height - _rows_of(part, spec, key).height for key, part in parts.items())
    return dg.AssetCheckResult(
        check_name=NO_LEAKAGE,
        passed=identical and outside == 0,
        metadata={
            "batch_rebuilt_without_future_data": first,
            "identical_when_rebuilt": identical,
            "rows_outside_their_batch": outside,
        },
    )


def _null_check(table: pl.DataFrame, spec: DatasetSpec) -> dg.AssetCheckResult:
    numeric, categorical = feature_columns(spec)
    nulls = {c: n for c in [*numeric, *categorical] if (n := table.get_column(c).null_count())}
    return dg.AssetCheckResult(
        check_name=NO_UNEXPECTED_NULLS,
        passed=not nulls,
        metadata={
            "columns_with_nulls": dg.MetadataValue.json(nulls),
            "unlabelled_rows": table.get_column(TARGET).null_count(),
        },
    )
