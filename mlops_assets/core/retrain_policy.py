"""When does drift turn into a retraining run? A pure function the sensor calls every tick.

A drift check's failure is one event; a retrain needs `min_drifted_batches` drifted batches in a
row (persistence: one odd batch is not a trend) and no retrain requested in the last
`cooldown_seconds` (a drift that persists over consecutive batches must not retrain every tick).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class RetrainPolicy:
    min_drifted_batches: int = 2
    cooldown_seconds: float = 6 * 3600


@dataclass(frozen=True)
class CheckEvaluation:
    record_id: int  # the instance's id of the evaluation: a drift event happens once
    check: str
    passed: bool
    batches: list[str]
    drifted_batches: list[str]
    drifted_features: dict[str, dict[str, float]] = field(default_factory=dict)
    run_id: str = ""


@dataclass
class RetrainState:
    seen: dict[str, int] = field(default_factory=dict)  # check -> last record id handled
    streak: list[str] = field(default_factory=list)  # consecutive drifted batches so far
    last_request_at: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> RetrainState:
        return cls(**(data or {}))


@dataclass(frozen=True)
class RetrainRequest:
    run_key: str
    check: str
    batches: list[str]
    drifted_features: list[str]
    reason: str


def decide_retrain(
    state: RetrainState, evaluations: list[CheckEvaluation], now: float, policy: RetrainPolicy
) -> tuple[RetrainState, RetrainRequest | None, str]:
    """Consume the new evaluations (oldest first) and say whether to request a retrain."""
    state = RetrainState(dict(state.seen), list(state.streak), state.last_request_at)
    trigger: CheckEvaluation | None = None
    for ev in sorted(evaluations, key=lambda e: e.record_id):
        if ev.record_id <= state.seen.get(ev.check, 0):
            continue
        state.seen[ev.check] = ev.record_id
        if ev.passed:
            # Only the data-drift check resets the streak; a passing performance check alone
            # says nothing about the features.
            if ev.check == "no_data_drift":
                state.streak = []
            continue
        state.streak = sorted(set(state.streak) | set(ev.drifted_batches or ev.batches))
        trigger = ev
    if trigger is None:
        return state, None, "no new failed drift evaluation"
    if len(state.streak) < policy.min_drifted_batches:
        return state, None, (f"{len(state.streak)} drifted batch(es) so far "
                             f"({', '.join(state.streak)}); waiting for "
                             f"{policy.min_drifted_batches} in a row")
    waited = now - state.last_request_at
    if state.last_request_at and waited < policy.cooldown_seconds:
        return state, None, (f"cool-down: a retrain was requested {waited:.0f} s ago "
                             f"(< {policy.cooldown_seconds:.0f} s)")
    features = sorted({f for per in trigger.drifted_features.values() for f in per})
    request = RetrainRequest(
        run_key=f"retrain-{trigger.check}-{trigger.record_id}",
        check=trigger.check,
        batches=list(state.streak),
        drifted_features=features,
        reason=f"{trigger.check} failed on {len(state.streak)} batch(es) "
               f"{state.streak[0]}..{state.streak[-1]}",
    )
    state.last_request_at = now
    state.streak = []
    return state, request, request.reason
