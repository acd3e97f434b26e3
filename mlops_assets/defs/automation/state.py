"""The drift_retrain_sensor's memory between ticks (its cursor), as plain data.

It folds each drift check's evaluations into the latest verdict per batch (a batch re-assessed
later, e.g. against a new champion, is judged by its newest report) and hands the retrain policy
the verdicts of the current champion only: a run of drifted batches never spans two models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlops_assets.core.retrain_policy import BatchVerdict

# Tag on train_job runs naming the drift event they answer: "<champion>/<check>:<first>..<last>".
DRIFT_EVENT_TAG = "mlops/drift_event"
MAX_BATCHES_KEPT = 400  # per check: the policy looks at recent runs of batches only


@dataclass
class SensorState:
    seen: dict[str, int] = field(default_factory=dict)  # check -> last record id absorbed
    # check -> batch -> {"drifted", "in_sample", "batch_score", "model_version", "features",
    # "record"}
    verdicts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    last_request_at: float | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SensorState:
        data = json.loads(cursor) if cursor else {}
        if "verdicts" not in data:  # a cursor of the earlier streak-based sensor: start over
            return cls()
        return cls(seen=dict(data.get("seen") or {}), verdicts=dict(data["verdicts"]),
                   last_request_at=data.get("last_request_at"))

    def to_cursor(self) -> str:
        return json.dumps({"seen": self.seen, "verdicts": self.verdicts,
                           "last_request_at": self.last_request_at})

    def after(self, check: str) -> int:
        return self.seen.get(check, 0)

    def absorb(self, check: str, evaluations: list[tuple[int, dict[str, dict]]]) -> None:
        """Fold evaluations (oldest first) into the latest verdict per batch."""
        batches = self.verdicts.setdefault(check, {})
        for record_id, per_batch in evaluations:
            for batch, verdict in per_batch.items():
                batches[batch] = {**verdict, "record": record_id}
            self.seen[check] = max(self.seen.get(check, 0), record_id)
        for batch in sorted(batches)[:-MAX_BATCHES_KEPT]:
            del batches[batch]

    def champion(self) -> str | None:
        """The model of the newest evaluation: the one the next retrain would replace."""
        newest = max((v for per in self.verdicts.values() for v in per.values()),
                     key=lambda v: v["record"], default=None)
        return None if newest is None else newest.get("model_version")

    def current_verdicts(self) -> tuple[list[BatchVerdict], str | None]:
        champion = self.champion()
        out = [
            BatchVerdict(batch=batch, check=check, drifted=v.get("drifted"),
                         in_sample=bool(v.get("in_sample")), batch_score=v.get("batch_score"))
            for check, per in self.verdicts.items() for batch, v in per.items()
            if v.get("model_version") == champion
        ]
        return out, champion

    def drifted_features(self, batches: list[str]) -> list[str]:
        return sorted({f for per in self.verdicts.values() for b in batches
                       for f in (per.get(b) or {}).get("features") or []})
