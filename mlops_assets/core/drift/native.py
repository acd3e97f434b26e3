"""Native drift engine: numpy per-feature tests (columns in parallel) and a batched MMD
permutation test (numpy; torch and scipy.stats are not imported).

The statistics themselves (effect sizes, contingency tables, sampling for MMD) live in
statistics.py, shared with the alibi engine and the calibration, so every verdict rests on
identical numbers; they are re-exported here for callers of the old layout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .correlation import correlation_member
from .mmd import thread_map
from .report import finalize_report as _finalize
from .statistics import (
    categorical_feature,
    categorical_table,
    chi2_statistic,
    jensen_shannon,
    ks_and_effect,
    ks_pvalue,
    ks_statistic,
    mmd_permutation_test,
    mmd_samples,
    numeric_feature,
    psi,
    sorted_numeric_columns,
    wasserstein_sd,
)
from .types import DriftConfig, DriftDetector, DriftReport, FeatureDrift, MultivariateDrift

if TYPE_CHECKING:
    from .reference import NumericReference, ReferenceSummary

__all__ = [
    "NativeDetector",
    "categorical_feature",
    "categorical_table",
    "chi2_statistic",
    "jensen_shannon",
    "ks_pvalue",
    "ks_statistic",
    "mmd_permutation_test",
    "mmd_samples",
    "numeric_feature",
    "numeric_inputs",
    "prediction_feature",
    "psi",
    "sorted_numeric_columns",
    "wasserstein_sd",
]


# ---- engine -------------------------------------------------------------------------------------
def prediction_feature(
    reference: ReferenceSummary, current: pl.DataFrame, config: DriftConfig
) -> FeatureDrift | None:
    col = reference.score_column
    if reference.score is None or col is None or col not in current.columns:
        return None
    cur = sorted_numeric_columns(current, [col])[col]
    if cur.size == 0:
        return None
    d, n_ref, w = ks_and_effect(reference.score, cur)
    return numeric_feature(reference.score, cur, d, ks_pvalue(d, n_ref, cur.size), n_ref,
                           config, kind="prediction", effect=w)


def numeric_inputs(
    reference: ReferenceSummary, current: pl.DataFrame
) -> Iterator[tuple[str, NumericReference, np.ndarray]]:
    """Each numeric reference feature present in `current` with at least one value: its name,
    its reference summary and the batch's sorted values (what both engines test)."""
    names = [c for c in reference.numeric if c in current.columns]
    for name, cur in sorted_numeric_columns(current, names).items():
        if cur.size:
            yield name, reference.numeric[name], cur


class NativeDetector(DriftDetector):
    name = "native"

    def detect(
        self, reference: ReferenceSummary, current: pl.DataFrame, config: DriftConfig
    ) -> DriftReport:
        t0 = time.perf_counter()

        def numeric(item: tuple[str, NumericReference, np.ndarray]) -> FeatureDrift:
            name, ref, cur = item
            sample = reference.sample_column(name) if config.ks_reference == "sample" else None
            # One sort of the batch column (numeric_inputs), one interpolation of the
            # reference CDF at it: KS and the Wasserstein effect size share both.
            d, n_ref, w = ks_and_effect(ref, cur, sample)
            return numeric_feature(ref, cur, d, ks_pvalue(d, n_ref, cur.size), n_ref, config,
                                   effect=w)

        # Columns on a thread per core: the per-column numpy passes release the GIL.
        features: list[FeatureDrift] = thread_map(numeric, list(numeric_inputs(reference,
                                                                               current)))
        for name, cref in reference.categorical.items():
            if name not in current.columns:
                continue
            _, ref_counts, cur_counts = categorical_table(cref, current[name])
            if cur_counts.sum() == 0:
                continue
            stat, p = chi2_statistic(ref_counts, cur_counts)
            features.append(categorical_feature(cref, ref_counts, cur_counts, stat, p, config))

        multivariate = None
        samples = mmd_samples(reference, current, config) if config.mmd else None
        if samples is not None:
            x, y = samples
            stat, p, n_exceed = mmd_permutation_test(
                x, y, reference.sigma, config.mmd_permutations, config.seed
            )
            multivariate = MultivariateDrift(
                test="mmd", statistic=stat, p_value=p, n_ref=x.shape[0], n_cur=y.shape[0],
                sigma=reference.sigma, n_permutations=config.mmd_permutations, n_exceed=n_exceed,
            )
        corr = correlation_member(reference, current, config)
        report = _finalize(
            self.name, features, multivariate, prediction_feature(reference, current, config),
            config, current.height, extra_multivariate=[corr] if corr else None,
            reference=reference,
        )
        report.seconds = time.perf_counter() - t0
        return report
