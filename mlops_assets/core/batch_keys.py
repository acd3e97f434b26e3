"""Batch (partition) keys a user supplies: checked once, with one message, wherever they come
from (a landing file's name, run tags, `mlops-assets` options), before a key becomes a file
name, a lakeFS path or a Dagster partition.

A key is a batch of the dataset's calendar (`DatasetSpec.partition_keys()`): "2013-01-01"
(daily), "2013-01-01-06:00" (sub-daily), "00003" (row batches). The character rule comes first
because a key such as `../x` must never reach a path, whatever the calendar says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ALLOWED = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:-]{0,63}")
CHARACTER_RULE = ("a batch key is 1-64 letters, digits, '-', '_' or ':' starting with a letter "
                  "or digit (it names a file and a lakeFS folder: no '/', '\\', '.' or spaces)")


class BatchKeyError(ValueError):
    """A key that is not a batch of the dataset; the message names the key, the rule broken
    and where the key came from."""


def is_safe_key(key: str) -> bool:
    return bool(ALLOWED.fullmatch(key))


def calendar_span(calendar: Sequence[str]) -> str:
    return f"{len(calendar)} batches, {calendar[0]}..{calendar[-1]}" if calendar else "no batches"


def key_problem(key: str, calendar: Sequence[str], dataset: str,
                known: set[str] | None = None) -> str | None:
    """Why `key` is not a batch of `dataset` (None when it is one); `known`: the calendar as a
    set, when checking many keys."""
    if not is_safe_key(key):
        return f"{key!r} is not a batch key: {CHARACTER_RULE}"
    if key not in (set(calendar) if known is None else known):
        return f"{key!r} is outside the batch calendar of {dataset} ({calendar_span(calendar)})"
    return None


def check_batch_keys(keys: Sequence[str], calendar: Sequence[str], dataset: str,
                     where: str) -> None:
    """Raise BatchKeyError for the first key that is not a batch, saying where it came from
    (e.g. "run tag dagster/partition", "--start", "landing file /x/y.csv")."""
    known = set(calendar)
    problems = [p for key in keys if (p := key_problem(key, calendar, dataset, known))]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BatchKeyError(f"{where}: {problems[0]}{more}")
