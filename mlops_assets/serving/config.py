"""What `mlops-assets serve` is told: the dataset, the challenger experiment, the clocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlops_assets.serving.canary import CanaryPolicy, Mode


@dataclass(frozen=True)
class ServeConfig:
    dataset: str = "nycflights13"
    poll_seconds: float = 5.0  # how often the registry (main's head) is checked
    mode: Mode = "off"  # challenger: off, shadow (scored, never returned) or canary
    challenger: str = "candidate"  # an alias, or "version:<name>" for a fixed version
    canary_share: float = 0.1
    canary: CanaryPolicy = field(default_factory=CanaryPolicy)
    judge_every: int = 50  # judge the challenger after this many new labels
    auto_decide: bool = True  # promote / stop by the verdict (else only report it)
    landing_dir: Path | None = None  # None: served traffic is not landed
    flush_idle_seconds: float = 60.0
    status_seconds: float = 60.0  # status.json to lakeFS at most this often (and on changes)
    write_status: bool = True
    check_feature_code: bool = True
    actor: str = "mlops-assets serve"
