"""Dagster partitions from a dataset spec: one partition per batch."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

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


def is_safe_key(key: str) -> bool:
    """A key that names a file and a lakeFS folder and nothing else (no `/`, `\\`, `..`)."""
    return bool(key) and "/" not in key and "\\" not in key and ".." not in key \
        and not key.startswith(".") and "\x00" not in key


def check_partition_keys(keys: list[str], partitions_def: dg.PartitionsDefinition) -> None:
    """Refuse keys outside the spec's calendar, naming them and the calendar, before anything
    reads a file or writes a branch (a `../` key must never become a path)."""
    unsafe = [k for k in keys if not is_safe_key(k)]
    if unsafe:
        raise PartitionKeyError(
            f"partition key {unsafe[0]!r} is not a batch name: keys may not contain '/', '\\' "
            "or '..' nor start with '.'"
        )
    known = set(partitions_def.get_partition_keys())
    outside = [k for k in keys if k not in known]
    if outside:
        calendar = partitions_def.get_partition_keys()
        span = f"{calendar[0]}..{calendar[-1]}" if calendar else "(empty)"
        raise PartitionKeyError(
            f"partition key(s) {', '.join(outside[:3])}"
            f"{' ...' if len(outside) > 3 else ''} outside the dataset's batch calendar "
            f"({len(calendar)} batches, {span})"
        )


def run_partition_keys(
    run: dg.DagsterRun,
    partitions_def: dg.PartitionsDefinition,
    instance: dg.DagsterInstance | None = None,
) -> list[str]:
    """The batches a run covers, from its tags (one partition or a single-run range); used where
    the context has no partition keys of its own, such as asset checks. A re-execution launched
    through the API does not copy its parent's tags, so with an instance the root run's (then
    the parent's) tags are read instead."""
    keys = _keys_from_tags(run.tags, partitions_def)
    if keys or instance is None:
        return keys
    for ancestor in (run.parent_run_id, run.root_run_id):
        parent = instance.get_run_by_id(ancestor) if ancestor else None
        if parent is not None and (keys := _keys_from_tags(parent.tags, partitions_def)):
            return keys
    return []


def _keys_from_tags(tags: dict[str, str], partitions_def: dg.PartitionsDefinition) -> list[str]:
    if PARTITION_TAG in tags:
        keys = [tags[PARTITION_TAG]]
    elif RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        check_partition_keys([tags[RANGE_START_TAG], tags[RANGE_END_TAG]], partitions_def)
        keys = partitions_def.get_partition_keys_in_range(
            dg.PartitionKeyRange(tags[RANGE_START_TAG], tags[RANGE_END_TAG])
        )
    else:
        return []
    check_partition_keys(keys, partitions_def)
    return keys


def range_tags(start: str, end: str) -> dict[str, str]:
    """Tags that run a job over batches start..end (inclusive) in one run."""
    return {RANGE_START_TAG: start, RANGE_END_TAG: end}
