"""Run configuration of the training stage: which batches, the hyperparameters (derived from the
core TrainConfig, so the two cannot drift apart), the quality bar and the promotion policy."""

import dataclasses
from typing import Any, get_origin, get_type_hints

import dagster as dg
from pydantic import Field, create_model

from mlops_assets.core.promotion import PromotionPolicy
from mlops_assets.core.quality_bar import QualityBar
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.train_config import TrainConfig


def _train_config_fields() -> dict[str, Any]:
    """The core TrainConfig's fields as pydantic fields (same names, types and defaults)."""
    hints = get_type_hints(TrainConfig)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        kind, default = hints[f.name], f.default
        if get_origin(kind) is tuple:  # Dagster run config has lists, not tuples
            out[f.name] = (list[int], Field(default_factory=lambda d=default: list(d)))
        else:
            out[f.name] = (kind, default)
    return out


# Derived, never restated: a new hyperparameter in core shows up in the UI by itself.
_ModelConfig = create_model("ModelConfig", __base__=dg.Config, **_train_config_fields())


class TrainingConfig(_ModelConfig):  # type: ignore[misc, valid-type]
    """Which batches to train on, plus every field of core.train_config.TrainConfig (the
    model's hyperparameters, with its defaults); all of it goes into the model record."""

    train_days: int = Field(
        default=60, description="batches used for training (and its time-ordered validation split)"
    )
    eval_days: int = Field(default=14, description="the latest batches, held out for evaluation")
    threshold_objective: str = Field(
        default="f1", description="how the decision threshold is chosen on the validation split: "
        "f1 (highest F1) or cost (lowest cost, a missed positive costing `cost_ratio` false "
        "alarms)")
    cost_ratio: float = Field(default=1.0, description="cost of a false negative / false positive")

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.model_dump(exclude=_NOT_HYPERPARAMETERS))


_NOT_HYPERPARAMETERS = {"train_days", "eval_days", "threshold_objective", "cost_ratio"}


class PromotionConfig(dg.Config):
    min_improvement: float = Field(default=0.005, description="required gain in the metric")
    alpha: float = Field(default=0.05, description="level of the paired one-sided test")
    test: str = Field(default="delong", description="delong (AUC) or bootstrap")
    n_bootstrap: int = 1000
    lock_wait_seconds: float = Field(
        default=120.0, description="how long to wait for another promotion or rollback to end")

    def policy(self, spec: DatasetSpec) -> PromotionPolicy:
        metric = "auc" if spec.target.task == "binary" else "rmse"
        test = self.test if metric == "auc" else "bootstrap"
        return PromotionPolicy(metric=metric, min_improvement=self.min_improvement,
                               alpha=self.alpha, test=test, n_bootstrap=self.n_bootstrap)


class EvaluationConfig(dg.Config):
    min_auc: float = Field(default=0.55, description="quality bar for binary targets")
    min_r2: float = Field(default=0.0, description="quality bar for regression targets")
    n_bootstrap: int = Field(default=200, description="bootstrap draws for the CIs")
    must_beat: list[str] | None = Field(
        default=None,
        description="baselines the model must beat on the same rows (paired one-sided test at "
        "`alpha`): base_rate, logistic (a linear model on the same features); default: the "
        "spec's quality_bar.must_beat")
    must_not_lose_to: list[str] | None = Field(
        default=None,
        description="baselines the model may tie but not lose to (the delta's CI below "
        "-margin); default: the spec's quality_bar.must_not_lose_to")
    margin: float = Field(default=0.01, description="non-inferiority margin (metric units)")
    alpha: float = Field(default=0.05, description="level of the paired tests against baselines")


def quality_bar(spec: DatasetSpec, config: EvaluationConfig) -> tuple[str, float]:
    return ("auc", config.min_auc) if spec.target.task == "binary" else ("r2", config.min_r2)


def quality_policy(spec: DatasetSpec, config: EvaluationConfig) -> QualityBar:
    """The bar as core.quality_bar applies it: the headline floor plus the baselines."""
    metric, minimum = quality_bar(spec, config)
    # Run config wins over the spec, so one run can relax or tighten the bar.
    must_beat = spec.quality_bar.must_beat if config.must_beat is None else config.must_beat
    must_not_lose_to = (spec.quality_bar.must_not_lose_to if config.must_not_lose_to is None
                        else config.must_not_lose_to)
    return QualityBar(metric=metric, minimum=minimum, must_beat=tuple(must_beat),
                      must_not_lose_to=tuple(must_not_lose_to), alpha=config.alpha,
                      margin=config.margin,
                      n_bootstrap=max(config.n_bootstrap, 200))


