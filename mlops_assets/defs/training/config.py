"""Run configuration of the training stage: which batches, the hyperparameters (derived from the
core TrainConfig, so the two cannot drift apart), the quality bar and the promotion policy."""

import dataclasses
from typing import Any, get_origin, get_type_hints

import dagster as dg
from pydantic import Field, create_model

from mlops_assets.core.promotion import PromotionPolicy
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

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.model_dump(exclude={"train_days", "eval_days"}))


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



def quality_bar(spec: DatasetSpec, config: EvaluationConfig) -> tuple[str, float]:
    return ("auc", config.min_auc) if spec.target.task == "binary" else ("r2", config.min_r2)


