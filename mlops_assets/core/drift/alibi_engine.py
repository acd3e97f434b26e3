"""alibi-detect engine (optional extra; alibi-detect >= 0.11.5 is BUSL-1.1, hence opt-in).

Test statistics and p-values come from alibi-detect; effect sizes, multiple-testing correction
and verdicts come from the shared native code, so the two engines' reports are comparable.
Differences from the native engine, by construction:

* KS runs against the stored reference *sample* (alibi needs raw arrays), not the full-reference
  CDF: same statistic as native ``ks_reference="sample"``, less power than the default;
* prediction (score) drift uses the native KS against the full-reference CDF in both engines;
* the MMD permutation p-value is reported in the native convention ``(1 + k) / (1 + P)``, with
  alibi's raw ``k / P`` available as ``MultivariateDrift.p_value_alibi``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .native import numeric_inputs, prediction_feature
from .report import finalize_report as _finalize
from .statistics import (
    categorical_feature,
    categorical_table,
    mmd_samples,
    numeric_feature,
)
from .types import DriftConfig, DriftDetector, DriftReport, FeatureDrift, MultivariateDrift

if TYPE_CHECKING:
    import polars as pl

    from .reference import ReferenceSummary

__all__ = ["AlibiDetector", "require_alibi"]

_EXTRA_HINT = (
    "the 'alibi' drift engine needs alibi-detect with its torch backend: "
    "pip install 'mlops-assets[alibi]'  (alibi-detect is BUSL-1.1; check its licence terms), "
    "or use engine='native'"
)


def require_alibi() -> Any:
    """Import and return ``alibi_detect.cd``, or raise ImportError naming the optional extra."""
    try:
        import alibi_detect.cd as cd
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(_EXTRA_HINT) from exc
    return cd


def _quiet_alibi_logs() -> None:
    import logging

    # alibi logs a warning per detector about the (unused) tensorflow backend / preprocessing.
    logging.getLogger("alibi_detect").setLevel(logging.ERROR)


class AlibiDetector(DriftDetector):
    name = "alibi"

    def __init__(self) -> None:
        self._cd = require_alibi()
        _quiet_alibi_logs()

    def detect(
        self, reference: ReferenceSummary, current: pl.DataFrame, config: DriftConfig
    ) -> DriftReport:
        import torch

        cd = self._cd
        t0 = time.perf_counter()
        features: list[FeatureDrift] = []
        for name, ref, cur in numeric_inputs(reference, current):
            x_ref = reference.sample_column(name)[:, None]
            det = cd.KSDrift(x_ref, p_val=config.alpha, correction="bonferroni")
            out = det.predict(cur[:, None], return_p_val=True, return_distance=True)["data"]
            features.append(numeric_feature(
                ref, cur, float(out["distance"][0]), float(out["p_val"][0]), x_ref.shape[0], config
            ))
        for name, cref in reference.categorical.items():
            if name not in current.columns:
                continue
            cats, ref_counts, cur_counts = categorical_table(cref, current[name])
            if cur_counts.sum() == 0 or len(cats) < 2:
                continue
            # Integer codes over the category union; the reference is rebuilt from its counts so
            # alibi's contingency table equals the native one.
            codes = np.arange(len(cats))
            x_ref = np.repeat(codes, ref_counts.astype(np.int64))[:, None]
            x_cur = np.repeat(codes, cur_counts.astype(np.int64))[:, None]
            det = cd.ChiSquareDrift(x_ref, p_val=config.alpha, correction="bonferroni")
            out = det.predict(x_cur, return_p_val=True, return_distance=True)["data"]
            features.append(categorical_feature(
                cref, ref_counts, cur_counts, float(out["distance"][0]), float(out["p_val"][0]),
                config,
            ))

        multivariate = None
        extra: list[MultivariateDrift] = []
        samples = mmd_samples(reference, current, config) if config.mmd else None
        if samples is not None:
            x, y = samples
            sigma = np.array([reference.sigma])
            perms = config.mmd_permutations
            torch.manual_seed(config.seed)  # alibi draws permutations from torch's global RNG
            mmd = cd.MMDDrift(x, backend="pytorch", p_val=config.alpha, sigma=sigma,
                              n_permutations=perms, device="cpu")
            multivariate = self._mv("mmd", mmd.predict(y)["data"], x, y, reference.sigma, perms)
            if config.lsdd:
                torch.manual_seed(config.seed)
                lsdd = cd.LSDDDrift(x, backend="pytorch", p_val=config.alpha, sigma=sigma,
                                    n_permutations=perms, device="cpu")
                extra.append(self._mv("lsdd", lsdd.predict(y)["data"], x, y, reference.sigma,
                                      perms))
        report = _finalize(
            self.name, features, multivariate, prediction_feature(reference, current, config),
            config, current.height, extra, reference=reference,
        )
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _mv(test: str, data: dict[str, Any], x: np.ndarray, y: np.ndarray, sigma: float,
            perms: int) -> MultivariateDrift:
        # alibi returns k / P; recover k to report the native (1 + k) / (1 + P) convention.
        n_exceed = round(float(data["p_val"]) * perms)
        return MultivariateDrift(
            test=test,  # type: ignore[arg-type]
            statistic=float(data["distance"]),
            p_value=(1 + n_exceed) / (1 + perms),
            n_ref=x.shape[0],
            n_cur=y.shape[0],
            sigma=sigma,
            n_permutations=perms,
            n_exceed=n_exceed,
        )
