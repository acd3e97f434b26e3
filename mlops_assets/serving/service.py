"""The serving state: the loaded models (one immutable snapshot, swapped atomically), the
registry follower, predictions, feedback, landing flushes and the canary judge. No HTTP here:
:mod:`.app` maps routes onto these methods."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlops_assets.core.spec import DatasetSpec
from mlops_assets.serving.canary import Verdict, assign_challenger, judge
from mlops_assets.serving.config import ServeConfig
from mlops_assets.serving.loading import (
    LoadedModel,
    LoadError,
    load_model,
    online_features,
    pointer_version,
)
from mlops_assets.serving.online_features import OnlineFeatures
from mlops_assets.serving.prom import Metrics
from mlops_assets.serving.rows import (
    FieldError,
    RowsError,
    ValidRows,
    partition_keys_of,
    plain_value,
    validate_rows,
)
from mlops_assets.serving.status import decision_path, write_status
from mlops_assets.serving.traffic import ServedRow, TrafficBuffer, write_window

log = logging.getLogger("mlops_assets.serving")


class NotReady(RuntimeError):
    """No champion is loaded yet (HTTP 503)."""


@dataclass(frozen=True)
class Snapshot:
    head: str  # the main commit the models and history were read at
    champion: LoadedModel
    challenger: LoadedModel | None
    features: OnlineFeatures


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ServingState:
    def __init__(self, lakefs: Any, spec: DatasetSpec, config: ServeConfig,
                 metrics: Metrics | None = None) -> None:
        self.lakefs, self.spec, self.config = lakefs, spec, config
        self.metrics = metrics or Metrics()
        self.buffer = TrafficBuffer(config.flush_idle_seconds)
        self._snap: Snapshot | None = None
        self._lock = threading.Lock()  # buffer, pairs, counters
        self._refresh_lock = threading.Lock()
        self._pairs: list[tuple[float, float, float]] = []  # (label, champion, challenger)
        self._since_judged = 0
        self._judging = threading.Lock()
        self._stopped: dict[str, dict[str, Any]] = {}  # challenger version -> its decision
        self.decisions: list[dict[str, Any]] = []
        self.last_verdict: dict[str, Any] | None = None
        self.flushed: list[dict[str, Any]] = []
        self.counts = {"requests": 0, "rows": 0, "champion_rows": 0, "challenger_rows": 0,
                       "labels": 0, "unscored": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status_at = 0.0
        self._status_dirty = True

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot | None:
        return self._snap

    def start(self) -> None:
        if self._snap is None:
            self.refresh(force=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="serving-follower",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.flush()
        self._write_status(force=True)

    def _follow(self) -> None:
        while not self._stop.wait(self.config.poll_seconds):
            for step in (self.refresh, self._flush_due, self._write_status):
                try:
                    step()
                except Exception:  # the follower must outlive a lakeFS hiccup
                    log.exception("serving follower: %s failed", step.__name__)
                    self.metrics.inc("follower_errors_total", "follower step failures",
                                     step=step.__name__)

    def _challenger_version(self, head: str, champion: str) -> str | None:
        if self.config.mode == "off":
            return None
        name = self.config.challenger
        version = (name.removeprefix("version:") if name.startswith("version:")
                   else pointer_version(self.lakefs, head, self.spec.name, name))
        if version is None or version == champion or version in self._stopped:
            return None
        return version

    def refresh(self, force: bool = False) -> bool:
        """Follow the registry: when main moved, re-read the aliases; load what changed in the
        background of requests, then swap the snapshot in one assignment."""
        with self._refresh_lock:
            ds, old = self.spec.name, self._snap
            head = self.lakefs.resolve(self.lakefs.default_branch)
            if old is not None and head == old.head and not force:
                return False
            champion_version = pointer_version(self.lakefs, head, ds, "champion")
            if champion_version is None:
                if old is None:
                    raise LoadError(f"{ds} has no champion on main yet: train one first")
                return False
            challenger_version = self._challenger_version(head, champion_version)
            loaded = {m.version: m for m in (old.champion, old.challenger) if m} if old else {}

            def get(version: str) -> LoadedModel:
                if version not in loaded:
                    loaded[version] = load_model(self.lakefs, self.spec, head, version,
                                                 self.config.check_feature_code)
                return loaded[version]

            champion = get(champion_version)
            challenger = get(challenger_version) if challenger_version else None
            features = online_features(self.lakefs, self.spec, head)
            new = Snapshot(head, champion, challenger, features)
            with self._lock:
                if old is None or (old.champion.version, getattr(old.challenger, "version", None)
                                   ) != (champion.version, challenger_version):
                    self._pairs, self._since_judged = [], 0
                self._snap = new  # the swap: requests read self._snap once
                self._status_dirty = True
            if old is not None and old.champion.version != champion.version:
                self.metrics.inc("model_swaps_total", "champion swaps")
                log.info("serving %s: champion %s -> %s", ds, old.champion.version,
                         champion.version)
            self.metrics.clear_gauge("model_info")
            for role, m in (("champion", champion), ("challenger", challenger)):
                if m is not None:
                    self.metrics.set("model_info", "loaded model versions", 1.0, role=role,
                                     version=m.version)
                    self.metrics.set("model_weights_bytes", "weights size per loaded version",
                                     m.weights_bytes, version=m.version)
            return True

    # -- requests ----------------------------------------------------------------------------
    def predict(self, body: Any) -> dict[str, Any]:
        snap = self._snap
        if snap is None:
            raise NotReady("no champion loaded yet")
        rows = body.get("rows", body.get("row")) if isinstance(body, dict) else body
        if isinstance(body, dict) and rows is None:
            raise RowsError([FieldError("rows", "schema", [], "rows: missing (give 'rows': "
                                                              "[{...}, ...] or 'row': {...})")])
        raw = validate_rows(rows, self.spec)
        try:
            feats = snap.features.features(raw)
            champion_scores = snap.champion.score(feats)
        except Exception:
            with self._lock:
                self.counts["unscored"] += 1
            log.exception("unscored request of %d rows (model %s)", raw.height,
                          snap.champion.version)
            raise
        challenger, challenger_scores = snap.challenger, None
        if challenger is not None:
            try:
                challenger_scores = challenger.score(feats)
            except Exception:  # a challenger never affects what is served
                log.exception("challenger %s failed to score", challenger.version)
                self.metrics.inc("errors_total", "errors by kind", kind="challenger")
                challenger = None
        key = str(body.get("key")) if isinstance(body, dict) and body.get("key") is not None \
            else "|".join(str(raw.column(k)[0]) for k in self.spec.keys)
        canary = (self.config.mode == "canary" and challenger is not None
                  and assign_challenger(key, self.config.canary_share, challenger.version))
        served, served_scores = ((challenger, challenger_scores) if canary
                                 else (snap.champion, champion_scores))
        other, other_scores = ((snap.champion, champion_scores) if canary
                               else (challenger, challenger_scores))
        request_id = uuid.uuid4().hex
        self._record(request_id, raw, "challenger" if canary else "champion", served,
                     served_scores, other, other_scores)
        self.metrics.inc("rows_scored_total", "rows scored by model version", raw.height,
                         model_version=served.version, role="served")
        if other is not None:
            self.metrics.inc("rows_scored_total", "rows scored by model version", raw.height,
                             model_version=other.version, role="shadow")
        return {"request_id": request_id, "model_version": served.version,
                "data_commit": served.data_commit, "served_by": "challenger" if canary
                else "champion", "features_commit": snap.features.commit,
                "scores": [float(s) for s in served_scores]}

    def _record(self, request_id: str, raw: ValidRows, served_by: str, served: LoadedModel,
                scores: np.ndarray, other: LoadedModel | None, others: np.ndarray | None) -> None:
        keys = partition_keys_of(raw, self.spec)
        now = time.time()
        rows = [ServedRow(request_id, i, key, values, served_by, served.version,
                          float(scores[i]), now, other.version if other else None,
                          float(others[i]) if others is not None else None)
                for i, (key, values) in enumerate(zip(keys, raw.dicts(), strict=True))
                if key is not None]
        with self._lock:
            self.buffer.add(rows, time.monotonic())
            self.counts["requests"] += 1
            self.counts["rows"] += raw.height
            self.counts[f"{served_by}_rows"] += raw.height

    def feedback(self, body: Any) -> dict[str, Any]:
        items = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(items, list) or not items:
            raise RowsError([FieldError("labels", "non_empty", [], "labels: give a non-empty "
                                        "list of {request_id, row, label}")])
        target = self.spec.column(self.spec.target.column)
        errors = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
                errors.append(FieldError(f"labels[{i}].request_id", "schema", [i],
                                         f"labels[{i}]: request_id (a string) is required"))
            elif type(item.get("row", 0)) is not int:
                errors.append(FieldError(f"labels[{i}].row", "schema", [i],
                                         f"labels[{i}].row: an integer row of the request"))
            elif item.get("label") is None or plain_value(item["label"], target) is None or \
                    not isinstance(plain_value(item["label"], target), (int, float)):
                errors.append(FieldError(
                    f"labels[{i}].label", "range", [i],
                    f"labels[{i}].label: {item.get('label')!r} is not a valid {target.name} "
                    f"({target.dtype} in [{target.min}, {target.max}], not null)"))
        if errors:
            raise RowsError(errors)
        snap, accepted, unknown = self._snap, 0, []
        experiment = (snap.champion.version, snap.challenger.version) if snap and \
            snap.challenger else None
        with self._lock:
            for item in items:
                row = self.buffer.label(item["request_id"], item.get("row", 0), item["label"],
                                        time.monotonic())
                if row is None:
                    unknown.append(item["request_id"])
                    continue
                accepted += 1
                if experiment and row.shadow_score is not None and \
                        {row.model_version, row.shadow_version} == set(experiment):
                    champion = row.score if row.served_by == "champion" else row.shadow_score
                    challenger = row.shadow_score if row.served_by == "champion" else row.score
                    self._pairs.append((float(item["label"]), champion, challenger))
                    self._since_judged += 1
            self.counts["labels"] += accepted
            due = experiment is not None and self._since_judged >= self.config.judge_every
        self.metrics.inc("feedback_labels_total", "labels received", accepted)
        if due and self._judging.acquire(blocking=False):
            threading.Thread(target=self._judge_locked, daemon=True).start()
        return {"accepted": accepted, "unknown": unknown}

    # -- the canary judge ----------------------------------------------------------------------
    def _judge_locked(self) -> None:
        try:
            self.judge_now()
        except Exception:
            log.exception("canary judge failed")
        finally:
            self._judging.release()

    def judge_now(self) -> Verdict | None:
        from mlops_assets.serving.decide import act_on

        snap = self._snap
        if snap is None or snap.challenger is None:
            return None
        with self._lock:
            pairs = np.array(self._pairs, dtype=float).reshape(-1, 3)
            self._since_judged = 0
        verdict = judge(pairs[:, 0], pairs[:, 1], pairs[:, 2],
                        champion_version=snap.champion.version,
                        challenger_version=snap.challenger.version, policy=self.config.canary)
        self.last_verdict = {**asdict(verdict), "at": _now(),
                             "champion": snap.champion.version,
                             "challenger": snap.challenger.version}
        self._status_dirty = True
        if verdict.action != "continue" and self.config.auto_decide:
            act_on(self, snap, verdict)
        return verdict

    def stop_challenger(self, version: str, record: dict[str, Any]) -> None:
        with self._refresh_lock, self._lock:
            self._stopped[version] = record
            snap = self._snap
            if snap is not None and snap.challenger is not None and \
                    snap.challenger.version == version:
                self._snap = Snapshot(snap.head, snap.champion, None, snap.features)
            self._pairs, self._since_judged = [], 0

    # -- landing and status --------------------------------------------------------------------
    def _flush_due(self) -> None:
        with self._lock:
            keys = self.buffer.due(time.monotonic())
        self.flush(keys)

    def flush(self, keys: list[str] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            windows = [(k, self.buffer.take(k)) for k in (self.buffer.keys()
                                                            if keys is None else keys)]
        out = []
        for key, rows in windows:
            if rows and self.config.landing_dir is not None:
                out.append(write_window(self.config.landing_dir, self.spec, key, rows))
        self.flushed += out
        if out:
            self._status_dirty = True
        return out

    def status(self) -> dict[str, Any]:
        snap = self._snap
        with self._lock:
            counts, pending, labelled = dict(self.counts), self.buffer.pending_rows, \
                len(self._pairs)
        return {
            "dataset": self.spec.name, "updated_at": _now(), "ready": snap is not None,
            "main_commit": snap.head if snap else None,
            "champion": snap.champion.describe() if snap else None,
            "challenger": snap.challenger.describe() if snap and snap.challenger else None,
            "mode": self.config.mode if snap and snap.challenger else "off",
            "canary_share": self.config.canary_share if self.config.mode == "canary" else 0.0,
            "traffic": counts, "pending_rows": pending, "paired_labels": labelled,
            "features_commit": snap.features.commit if snap else None,
            "history_rows": snap.features.history_rows if snap else 0,
            "last_verdict": self.last_verdict, "decisions": self.decisions[-5:],
            "stopped_challengers": sorted(self._stopped),
        }

    def _write_status(self, force: bool = False, extra: dict[str, Any] | None = None) -> None:
        if not self.config.write_status or self._snap is None:
            return
        due = time.monotonic() - self._status_at >= self.config.status_seconds
        if not (force or extra or (self._status_dirty and due)):
            return
        self._status_dirty = False
        self._status_at = time.monotonic()
        write_status(self.lakefs, self.spec.name, self.status(), extra)

    def record_decision(self, record: dict[str, Any]) -> None:
        self.decisions.append(record)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        try:
            self._write_status(extra={decision_path(self.spec.name, stamp): record})
        except Exception:
            log.exception("could not record the canary decision in lakeFS")
