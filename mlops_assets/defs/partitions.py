"""Dagster partitions from a dataset spec: one partition per batch."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from mlops_assets.core.batch_keys import BatchKeyError, check_batch_keys
from mlops_assets.core.spec import DatasetSpec

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


class PartitionKeyError(dg.Failure):
    """A partition key that is not a batch of the dataset's calendar (or could escape a path)."""


def batch_partitions(spec: DatasetSpec) -> dg.PartitionsDefinition:
    batch = spec.batch
    if batch.rows is None and batch.step == timedelta(days=1):
        return dg.DailyPartitionsDefinition(
            start_date=batch.start.isoformat(),
            end_date=(batch.end + timedelta(days=1)).isoformat(),
        )
    return dg.StaticPartitionsDefinition(spec.partition_keys())


def check_partition_keys(
    keys: list[str], partitions_def: dg.PartitionsDefinition, where: str = "partition keys",
    dataset: str = "this dataset",
) -> None:
    """Refuse keys outside the spec's calendar or with characters a batch key never has, naming
    the key, the rule and where it came from, before anything reads a file or writes a branch
    (a `../` key must never become a path). core.batch_keys holds the rule."""
    try:
        check_batch_keys(keys, partitions_def.get_partition_keys(), dataset, where)
    except BatchKeyError as error:
        raise PartitionKeyError(str(error)) from None


def run_partition_keys(
    run: dg.DagsterRun,
    partitions_def: dg.PartitionsDefinition,
    instance: dg.DagsterInstance | None = None,
    dataset: str = "this dataset",
) -> list[str]:
    """The batches a run covers, from its tags (one partition or a single-run range); used where
    the context has no partition keys of its own, such as asset checks. A re-execution launched
    through the API does not copy its parent's tags, so with an instance the root run's (then
    the parent's) tags are read instead."""
    keys = _keys_from_tags(run.tags, partitions_def, dataset)
    if keys or instance is None:
        return keys
    for ancestor in (run.parent_run_id, run.root_run_id):
        parent = instance.get_run_by_id(ancestor) if ancestor else None
        if parent is not None and (keys := _keys_from_tags(parent.tags, partitions_def,
                                                                  dataset)):
            return keys
    return []


def _keys_from_tags(
    tags: dict[str, str], partitions_def: dg.PartitionsDefinition, dataset: str
) -> list[str]:
    if PARTITION_TAG in tags:
        keys = [tags[PARTITION_TAG]]
        check_partition_keys(keys, partitions_def, f"run tag {PARTITION_TAG}", dataset)
        return keys
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        ends = [tags[RANGE_START_TAG], tags[RANGE_END_TAG]]
        check_partition_keys(ends, partitions_def, f"run tags {RANGE_START_TAG}/_end", dataset)
        return partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(*ends))
    return []


def range_tags(start: str, end: str) -> dict[str, str]:
    """Tags that run a job over batches start..end (inclusive) in one run."""
    return {RANGE_START_TAG: start, RANGE_END_TAG: end}
