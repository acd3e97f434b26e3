"""Ingestion: raw batches land on the run branch; validated batches are what got published.

In a range run every partition gets its own metadata (rows, object URI, commit, summary) through
``context.add_asset_metadata(..., partition_key=key)``: metadata in a MaterializeResult would
land on every partition of the range.
"""

from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.core.sources import BatchFileError, extract_batch, read_batch_file
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.ingest.landing import LandingResource
from mlops_assets.defs.partitions import check_partition_keys, run_partition_keys
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import (
    add_partition_metadata,
    commit_run_branch,
    ensure_run_branch,
    frame_metadata,
    lakefs_links,
    publish_run_branch,
)
from mlops_assets.defs.wap_prune import prune_after_publish
from mlops_assets.platform import layout
from mlops_assets.platform.frames import frames_digest


def build_ingest_assets(
    spec: DatasetSpec, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    ds = spec.name

    @dg.asset(
        name="raw_batch",
        key_prefix=[ds],
        group_name=ds,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        code_version=code_version(__name__, "mlops_assets.core.sources", "mlops_assets.defs.wap"),
        kinds={"polars", "lakefs"},
        description=f"{ds} batches landed as parquet on the run's lakeFS branch (never on main).",
    )
    def raw_batch(
        context: dg.AssetExecutionContext, lakefs: LakeFS, landing: LandingResource
    ) -> dg.MaterializeResult:
        keys = _run_keys(context, partitions_def, ds)  # checked before any key becomes a path
        frames: dict[str, pl.DataFrame] = {}
        sources: dict[str, str] = {}
        for key in keys:
            path = landing.batch_file(ds, key)
            try:
                frames[key] = read_batch_file(path, spec, key) if path else extract_batch(spec, key)
            except BatchFileError as error:
                # Nothing of this run is written, so main and the branch stay as they were.
                raise dg.Failure(description=f"batch {key} rejected: {error}") from None
            sources[key] = str(path) if path else f"bundled {ds} sources"
        branch = ensure_run_branch(lakefs, context.run)
        lakefs.put_frames(branch, {layout.raw_batch(ds, k): f for k, f in frames.items()})
        commit_id = commit_run_branch(context, lakefs, branch, f"{ds}: land {_span(keys)}")
        per_key: dict[str, dict[str, Any]] = {}
        for key, frame in frames.items():
            summary = (
                f"Batch {key}: {frame.height} rows from {sources[key]}, landed on run branch "
                f"`{branch}` at commit `{commit_id[:12]}`. On main only once `validated_batch` "
                f"{key} is materialized (after its audit passed)."
            )
            meta = frame_metadata(lakefs, branch, commit_id, layout.raw_batch(ds, key), frame,
                                  summary)
            meta["source"] = sources[key]
            per_key[key] = meta
        add_partition_metadata(context, per_key)
        rows = {key: frame.height for key, frame in frames.items()}
        return dg.MaterializeResult(
            data_version=dg.DataVersion(frames_digest(list(frames.values()))),
            # True of every partition of the run; each partition's own numbers are added above.
            metadata={"lakefs_branch": branch, "run_batches": _span(keys),
                      "run_rows": sum(rows.values())},
        )

    @dg.asset(
        name="validated_batch",
        key_prefix=[ds],
        group_name=ds,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[raw_batch],
        code_version=code_version(__name__, "mlops_assets.defs.wap"),
        kinds={"lakefs"},
        description="Publish: the audited batches merged from the run branch into main. Skipped "
        "when a blocking batch check fails, so a bad batch never reaches main.",
    )
    def validated_batch(
        context: dg.AssetExecutionContext, lakefs: LakeFS
    ) -> dg.MaterializeResult:
        keys = _run_keys(context, partitions_def, ds)
        paths = {key: layout.raw_batch(ds, key) for key in keys}
        result = publish_run_branch(context, lakefs, f"{ds}: publish validated {_span(keys)}",
                                    expected_paths=list(paths.values()))
        frames = dict(zip(keys, lakefs.get_frames(result.commit_id, list(paths.values())),
                          strict=True))
        note = "" if result.merged else " (already on main: nothing new to merge)"
        add_partition_metadata(context, {
            key: {
                **lakefs_links(lakefs, result.commit_id, paths[key]),
                "dagster/row_count": frame.height,
                "merged": result.merged,
                "summary": dg.MetadataValue.md(
                    f"Batch {key} ({frame.height} rows) published to "
                    f"`{lakefs.default_branch}` at commit `{result.commit_id[:12]}`{note}"),
            }
            for key, frame in frames.items()
        })
        prune_after_publish(context, lakefs)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(lakefs.content_version(result.commit_id,
                                                               list(paths.values()))),
            metadata={"run_batches": _span(keys)},
        )

    return [raw_batch, validated_batch]


def _run_keys(
    context: dg.AssetExecutionContext, partitions_def: dg.PartitionsDefinition, ds: str
) -> list[str]:
    """The run's batches, checked against the spec's calendar from the run's tags first: with a
    key outside it, Dagster's own error would come from deep inside `context.partition_keys`."""
    keys = run_partition_keys(context.run, partitions_def, context.instance, ds)
    if not keys:
        keys = list(context.partition_keys)
        check_partition_keys(keys, partitions_def, "the run's partition keys", ds)
    return keys


def _span(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
