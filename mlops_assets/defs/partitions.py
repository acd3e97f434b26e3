"""Dagster partitions from a dataset spec: one partition per batch."""

from datetime import timedelta

import dagster as dg

from mlops_assets.core.spec import DatasetSpec

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


def batch_partitions(spec: DatasetSpec) -> dg.PartitionsDefinition:
    batch = spec.batch
    if batch.rows is None and batch.step == timedelta(days=1):
        return dg.DailyPartitionsDefinition(
            start_date=batch.start.isoformat(),
            end_date=(batch.end + timedelta(days=1)).isoformat(),
        )
    return dg.StaticPartitionsDefinition(spec.partition_keys())


def run_partition_keys(run: dg.DagsterRun, partitions_def: dg.PartitionsDefinition) -> list[str]:
    """The batches a run covers, from its tags (one partition or a single-run range); used where
    the context has no partition keys of its own, such as asset checks."""
    tags = run.tags
    if PARTITION_TAG in tags:
        return [tags[PARTITION_TAG]]
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange(tags[RANGE_START_TAG], tags[RANGE_END_TAG])
        )
    return []


def range_tags(start: str, end: str) -> dict[str, str]:
    """Tags that run a job over batches start..end (inclusive) in one run."""
    return {RANGE_START_TAG: start, RANGE_END_TAG: end}
