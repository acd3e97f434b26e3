"""One human line per step of a `dagster job execute` run, read from its event stream.

The demo sends the stream (every DEBUG event, warnings) to a log file and passes each line
here. Parsing the text stream keeps the demo a plain subprocess runner (no second connection to
the instance while the run writes to it); a line that doesn't parse is simply not shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# `<date> <time> <tz> - dagster - DEBUG - <job> - <run id> - <pid> - [<step> - ]EVENT - message`
_EVENT = re.compile(
    r" - dagster - DEBUG - (?P<job>\S+) - (?P<run>[0-9a-f-]{36}) - \d+ - "
    r"(?:(?P<step>[\w.]+) - )?(?P<event>[A-Z_]+) - (?P<msg>.*)$"
)
# `... - dagster - INFO - <job> - <run id> - <step> - message` (context.log in an asset)
_LOG = re.compile(
    r" - dagster - (?:INFO|WARNING|ERROR) - (?P<job>\S+) - (?P<run>[0-9a-f-]{36}) - "
    r"(?P<step>[\w.]+) - (?P<msg>.*)$"
)
_CHECK = re.compile(r"Asset check '(?P<name>[^']+)' on '[^']+' (?P<verdict>passed|did not pass)"
                    r"(?:\. Description: '(?P<description>.*)')?")
_EPOCH = re.compile(r"^epoch (?P<n>\d+)/(?P<max>\d+) .*val_loss=(?P<val>[\d.]+)")

# What one materialization of a step means, for the partitioned assets.
_UNITS = {
    "raw_batch": "batch(es) landed on the run branch",
    "validated_batch": "batch(es) published to main",
    "features": "batch(es) of features",
    "predictions": "batch(es) scored",
    "drift_report": "batch(es) checked for drift",
}
_WIDTH = 100


@dataclass
class _Step:
    started: float
    materialized: int = 0
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    first_log: str = ""
    last_epoch: re.Match | None = None


@dataclass
class RunProgress:
    """Feed it stream lines (:meth:`feed`); it calls `emit` with one line per finished step."""

    emit: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    run_id: str | None = None
    steps: dict[str, _Step] = field(default_factory=dict)
    _start: float = field(default=0.0, init=False)

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if event := _EVENT.search(line):
            self._event(event["run"], event["step"], event["event"], event["msg"])
        elif log := _LOG.search(line):
            step = self._step(log["step"])
            if epoch := _EPOCH.match(log["msg"]):
                step.last_epoch = epoch
            elif not step.first_log:
                step.first_log = log["msg"]

    def _step(self, name: str) -> _Step:
        return self.steps.setdefault(_asset_name(name), _Step(self.clock()))

    def _event(self, run: str, name: str | None, kind: str, msg: str) -> None:
        name = _asset_name(name) if name else name
        if kind == "RUN_START":
            self.run_id, self._start = run, self.clock()
            return
        if name is None:
            if kind in ("RUN_FAILURE", "RUN_CANCELED"):
                self.emit(f"  run {run[:8]} failed: {msg[:_WIDTH]}")
            return
        step = self._step(name)
        if kind == "ASSET_MATERIALIZATION":
            step.materialized += 1
        elif kind == "ASSET_CHECK_EVALUATION" and (check := _CHECK.search(msg)):
            if check["verdict"] == "passed":
                step.passed += 1
            else:
                step.failed.append(f"{check['name']}: {check['description'] or 'failed'}")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            self.emit(self._line(name, step, kind))

    def _line(self, name: str, step: _Step, kind: str) -> str:
        elapsed = f"{self.clock() - self._start:5.0f}s" if self._start else "      "
        if kind == "STEP_SKIPPED":
            return f"  {elapsed}  {name:<18} skipped (an upstream step or blocking check failed)"
        parts = []
        if name in _UNITS and step.materialized:
            parts.append(f"{step.materialized} {_UNITS[name]}")
        if step.last_epoch:
            e = step.last_epoch
            parts.append(f"trained {e['n']}/{e['max']} epochs (val loss {e['val']})")
        elif step.first_log:
            parts.append(step.first_log)
        checks = step.passed + len(step.failed)
        if checks:
            parts.append(f"checks {step.passed}/{checks} passed")
        if kind == "STEP_FAILURE":
            parts.append("FAILED (details in the log file)")
        text = "; ".join(parts) or ("materialized" if step.materialized else "done")
        if step.failed:
            text += "; " + "; ".join(step.failed)
        text = f"  {elapsed}  {name:<18} {text}"
        return text if len(text) <= _WIDTH + 20 else text[: _WIDTH + 17] + "..."


def _asset_name(step: str) -> str:
    """`raw_batch` from the op name `synthetic__raw_batch` (op names are dataset-scoped)."""
    return step.rsplit("__", 1)[-1]
