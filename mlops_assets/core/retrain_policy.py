"""When does drift turn into a retraining run? Pure functions the sensor calls every tick.

Input: per-batch verdicts in partition order (:class:`BatchVerdict`: batch key, check, drifted
True/False/None (None = not assessable or missing), in_sample, batch score / p). Two rules:

* **consecutive** (default): ``min_drifted_batches`` drifted batches in a row, per check, in
  partition order. A passing, missing or not-assessable batch breaks the run. In-sample batches
  (the champion trained or was evaluated on them) are skipped: they neither count nor break a run
  (a verdict on training data says nothing about drift, so it must not reset the evidence
  either). With calibrated verdicts (false-alarm rate alpha per batch) a run of r happens by
  chance about (N - r + 1) alpha^r times in N batches: 90 batches, alpha 0.05, r = 3 -> ~0.011.
* **cusum** (option): one-sided CUSUM on z = Phi^-1(1 - p_batch) (~N(0,1) under no change):
  S = max(0, S + z - k), alarm when S > h, then S = 0. ARL0 (batches between false alarms when
  nothing changes) for k = 0.5, h = 5 is ~930 under exact N(0,1) (:func:`cusum_arl0`;
  docs/drift.md), and the delay to a 1-sd shift ~10 batches.

A drift event has a stable ``event_id`` = ``"<check>:<first>..<last>"`` (the batches that
triggered it), so launchers can de-duplicate "one drift event -> one retrain" by tagging runs
with it. :func:`plan_retrain` adds a cooldown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class RetrainPolicy:
    # 3 in a row: ~1 chance false event per 90 batches at alpha 0.05 (see the module docstring).
    min_drifted_batches: int = 3
    cooldown_seconds: float = 6 * 3600
    rule: Literal["consecutive", "cusum"] = "consecutive"
    cusum_k: float = 0.5
    cusum_h: float = 5.0


# ---- per-batch verdicts -> drift events -------------------------------------------------------
@dataclass(frozen=True)
class BatchVerdict:
    batch: str  # partition key; sorting the keys gives partition order
    check: str
    drifted: bool | None  # None: not assessable / missing
    in_sample: bool = False
    batch_score: float | None = None  # -log10(batch p) as in DriftReport.batch_score
    batch_p: float | None = None

    def p(self) -> float | None:
        if self.batch_p is not None:
            return self.batch_p
        return None if self.batch_score is None else float(10.0 ** -self.batch_score)


@dataclass(frozen=True)
class DriftEvent:
    check: str
    batches: list[str]  # the batches that triggered it (first..last), partition order
    rule: str
    reason: str

    @property
    def event_id(self) -> str:
        return f"{self.check}:{self.batches[0]}..{self.batches[-1]}"


def _by_check(verdicts: Iterable[BatchVerdict]) -> dict[str, list[BatchVerdict]]:
    out: dict[str, list[BatchVerdict]] = {}
    for v in sorted(verdicts, key=lambda v: (v.check, v.batch)):
        if not v.in_sample:  # skipped: neither counts nor breaks a run
            out.setdefault(v.check, []).append(v)
    return out


def consecutive_events(verdicts: Iterable[BatchVerdict], min_batches: int
                       ) -> list[DriftEvent]:
    """One event per run of ``min_batches`` consecutive drifted batches (a longer run is the
    same event: the id names the first ``min_batches`` of the run)."""
    if min_batches < 1:
        raise ValueError("min_batches must be >= 1")
    events = []
    for check, rows in _by_check(verdicts).items():
        run: list[str] = []
        for v in rows:
            if v.drifted is True:
                run.append(v.batch)
                if len(run) == min_batches:
                    events.append(DriftEvent(
                        check=check, batches=list(run), rule="consecutive",
                        reason=f"{check} failed on {len(run)} consecutive batches "
                               f"{', '.join(run)}"))
            else:
                run = []
    return sorted(events, key=lambda e: e.batches[-1])


def cusum_events(verdicts: Iterable[BatchVerdict], k: float = 0.5, h: float = 5.0
                 ) -> list[DriftEvent]:
    """One-sided CUSUM per check on z = Phi^-1(1 - p); batches without a p are skipped."""
    from scipy.stats import norm

    events = []
    for check, rows in _by_check(verdicts).items():
        s, start = 0.0, None
        for v in rows:
            p = v.p()
            if p is None:
                continue
            z = float(norm.isf(min(max(p, 1e-300), 1.0)))
            s = max(0.0, s + z - k)
            if s == 0.0:
                start = None
                continue
            start = start or v.batch
            if s > h:
                span = [r.batch for r in rows if start <= r.batch <= v.batch]
                events.append(DriftEvent(
                    check=check, batches=span, rule="cusum",
                    reason=f"{check}: CUSUM {s:.1f} > h={h:g} (k={k:g}) over batches "
                           f"{span[0]}..{span[-1]} ({len(span)} batches)"))
                s, start = 0.0, None
    return sorted(events, key=lambda e: e.batches[-1])


def cusum_arl0(k: float = 0.5, h: float = 5.0, runs: int = 2000, max_len: int = 20_000,
               seed: int = 0) -> float:
    """Monte Carlo average run length to a false alarm when z ~ N(0,1) (no change)."""
    rng = np.random.default_rng(seed)
    s = np.zeros(runs)
    alarm_at = np.full(runs, max_len, dtype=np.int64)
    alive = np.ones(runs, dtype=bool)
    for t in range(1, max_len + 1):
        s = np.maximum(0.0, s + rng.normal(size=runs) - k)
        hit = alive & (s > h)
        alarm_at[hit] = t
        alive &= ~hit
        if not alive.any():
            break
    return float(alarm_at.mean())


@dataclass(frozen=True)
class RetrainPlan:
    request: DriftEvent | None
    events: list[DriftEvent]
    reason: str


def plan_retrain(verdicts: Iterable[BatchVerdict], policy: RetrainPolicy, *,
                 handled_events: Iterable[str] = (), last_request_at: float | None = None,
                 now: float = 0.0) -> RetrainPlan:
    """The newest drift event not yet handled (``handled_events``: event ids of runs already
    launched, e.g. from a run tag), unless inside the cooldown after ``last_request_at``."""
    verdicts = list(verdicts)
    if policy.rule == "cusum":
        events = cusum_events(verdicts, policy.cusum_k, policy.cusum_h)
    else:
        events = consecutive_events(verdicts, policy.min_drifted_batches)
    handled = set(handled_events)
    new = [e for e in events if e.event_id not in handled]
    if not new:
        return RetrainPlan(None, events, "no new drift event" + (
            f" ({len(events)} already handled)" if events else ""))
    event = new[-1]
    if last_request_at is not None and now - last_request_at < policy.cooldown_seconds:
        return RetrainPlan(None, events, f"cool-down: a retrain was requested "
                           f"{now - last_request_at:.0f} s ago (< {policy.cooldown_seconds:.0f} "
                           f"s); pending: {event.reason}")
    return RetrainPlan(event, events, event.reason)
