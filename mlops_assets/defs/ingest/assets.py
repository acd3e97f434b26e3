"""Ingestion: raw batches land on the run branch; validated batches are what got published."""

import dagster as dg
import polars as pl

from mlops_assets.core.sources import BatchFileError, extract_batch, read_batch_file
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.defs.code_versions import code_version
from mlops_assets.defs.ingest.landing import LandingResource
from mlops_assets.defs.resources import LakeFS
from mlops_assets.defs.wap import (
    commit_run_branch,
    ensure_run_branch,
    frame_metadata,
    publish_run_branch,
)
from mlops_assets.platform import layout
from mlops_assets.platform.frames import frames_digest


def build_ingest_assets(
    spec: DatasetSpec, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    ds = spec.name

    @dg.asset(
        name="raw_batch",
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
        branch = ensure_run_branch(lakefs, context.run.run_id)
        frames: dict[str, pl.DataFrame] = {}
        sources: dict[str, str] = {}
        for key in context.partition_keys:
            path = landing.batch_file(ds, key)
            try:
                frames[key] = read_batch_file(path, spec, key) if path else extract_batch(spec, key)
            except BatchFileError as error:
                # Nothing of this run is written, so main and the branch stay as they were.
                raise dg.Failure(description=f"batch {key} rejected: {error}") from None
            sources[key] = str(path) if path else f"bundled {ds} sources"
        lakefs.put_frames(branch, {layout.raw_batch(ds, k): f for k, f in frames.items()})
        rows = {key: frame.height for key, frame in frames.items()}
        frame = frames[context.partition_keys[-1]]
        commit_id = commit_run_branch(
            context,
            lakefs,
            branch,
            f"{ds}: land {_span(context.partition_keys)}",
            batches=",".join(rows),
        )
        last = context.partition_keys[-1]
        summary = (
            f"Landed {len(rows)} batch(es) ({_span(list(rows))}, {sum(rows.values())} rows) on "
            f"branch `{branch}`, commit `{commit_id[:12]}`; waiting for the audit."
        )
        meta = frame_metadata(lakefs, branch, commit_id, layout.raw_batch(ds, last), frame, summary)
        meta["dagster/row_count"] = sum(rows.values())
        meta["rows_per_batch"] = dg.MetadataValue.json(rows)
        meta["sources"] = dg.MetadataValue.json(sources)
        return dg.MaterializeResult(
            data_version=dg.DataVersion(frames_digest(list(frames.values()))), metadata=meta
        )

    @dg.asset(
        name="validated_batch",
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
        keys = context.partition_keys
        result = publish_run_branch(context, lakefs, f"{ds}: publish validated {_span(keys)}")
        return dg.MaterializeResult(
            data_version=dg.DataVersion(lakefs.content_version(
                result.commit_id, [layout.raw_batch(ds, k) for k in keys])),
            metadata={
                "lakefs_commit": result.commit_id,
                "lakefs_uri": lakefs.uri(result.commit_id, layout.raw_prefix(ds)),
                "merged": result.merged,
                "summary": dg.MetadataValue.md(
                    f"Published {_span(keys)} to `{lakefs.default_branch}` at commit "
                    f"`{result.commit_id[:12]}`"
                    + ("" if result.merged else " (already there: nothing new to merge)")
                ),
            },
        )

    return [raw_batch, validated_batch]


def _span(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
