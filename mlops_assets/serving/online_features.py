"""The model table of request rows, built by :func:`core.features.build_features` itself.

Every feature but the rolling target rates depends on the row alone, so request rows go through
``build_features`` with the rates switched off. A rate of row r depends only on (r's group, r's
day D): the labelled rows of that group in the days [D - w, D). The online path reads those from
the history published in lakeFS (the raw batches on main at the commit the service loaded,
:attr:`OnlineFeatures.commit`) and asks ``build_features`` for them: per day D it builds the
history of [D - w_max, D) plus one unlabelled *probe* row per group value at day D (and one for a
value never seen, which gets the all-group fallback), and keeps the probes' rate columns. A
request row's rates are the probe values of its (group, day), cached per day. So the online rates
equal what the batch pipeline computes for the same row over the same published history; rows of
served traffic count once they are labelled, landed and published (the batch recomputation then
sees them too).
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from mlops_assets.core import row_features
from mlops_assets.core.fast_scoring import FeatureColumns
from mlops_assets.core.features import NULL_CATEGORY, build_features, feature_columns
from mlops_assets.core.spec import ROW_INDEX, DatasetSpec, SpecError
from mlops_assets.serving.rows import ValidRows

_UNSEEN = "\x00unseen"


def history_columns(spec: DatasetSpec) -> list[str]:
    """The raw columns the rolling rates read: time, groups, and what the target is made of."""
    if not spec.features.rolling_target_rates:
        return []
    target = spec.target.expr().meta.root_names()
    by = [r.by for r in spec.features.rolling_target_rates]
    return list(dict.fromkeys([spec.time_column or "", *by, spec.target.column, *target]))


def _null_frame(spec: DatasetSpec, height: int) -> dict[str, pl.Series]:
    return {c.name: pl.Series(c.name, [None] * height, dtype=c.polars_dtype)
            for c in spec.columns}


class OnlineFeatures:
    """Features of request rows for one dataset, with the published history at `commit`."""

    def __init__(self, spec: DatasetSpec, history: pl.DataFrame | None, commit: str) -> None:
        rates = spec.features.rolling_target_rates
        derived = set(spec.features.derived)
        if any(r.by in derived for r in rates):
            raise SpecError(f"{spec.name}: online rolling rates need declared group columns, "
                            f"not derived ones ({[r.by for r in rates if r.by in derived]})")
        self.spec = spec
        self.commit = commit
        self.rates = list(rates)
        self.max_window = max((r.window_days for r in rates), default=0)
        self._no_rates = spec.model_copy(update={"features": spec.features.model_copy(
            update={"rolling_target_rates": []})})
        self.columns = feature_columns(spec)
        self.plain = row_features.supports(spec)  # per-row features without polars
        self._lead: list[str] = []
        keep = history_columns(spec)
        if history is not None and rates:
            tc = spec.time_column
            assert tc is not None
            nulls = _null_frame(spec, history.height)
            full = history.select(keep).with_columns(
                *[nulls[c.name] for c in spec.columns if c.name not in keep])
            self._history = full.select(c.name for c in spec.columns).with_columns(
                pl.col(tc).dt.date().alias("__day"))
        else:
            self._history = None
        self._days: dict[date, dict[str, tuple[dict[str, tuple[float, float]],
                                                tuple[float, float]]]] = {}
        self._lock = threading.Lock()

    @property
    def history_rows(self) -> int:
        return 0 if self._history is None else self._history.height

    # -- rates ---------------------------------------------------------------------------------
    def _probe_values(self, hist: pl.DataFrame, by: str) -> tuple[list[Any], bool]:
        """The group values seen in `hist`, plus one never seen (for the fallback) when the
        dtype has an obvious one; the flag says whether it was added (it is last)."""
        dtype = self.spec.column(by).polars_dtype
        values = hist.get_column(by).unique().to_list()
        if dtype == pl.String:
            return [*values, _UNSEEN], True
        if dtype.is_integer():
            return [*values, max((v for v in values if v is not None), default=0) + 1], True
        return values, False

    def _day_rates(self, day: date) -> dict[str, tuple[dict[str, tuple[float, float]],
                                                       tuple[float, float]]]:
        """{rate column: ({group as text: (rate, count)}, (fallback rate, 0))} for day `day`."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        spec, tc = self.spec, self.spec.time_column
        assert tc is not None
        midnight = datetime.combine(day, datetime.min.time())
        if self._history is not None:
            hist = self._history.filter(pl.col("__day").is_between(
                day - timedelta(days=self.max_window), day, closed="left")).drop("__day")
        else:
            hist = pl.DataFrame(_null_frame(spec, 0))
        probes: list[tuple[str, Any]] = []
        unseen: dict[str, int] = {}  # by -> index of its never-seen probe
        for by in dict.fromkeys(r.by for r in self.rates):
            values, has_unseen = self._probe_values(hist, by)
            if has_unseen:
                unseen[by] = len(probes) + len(values) - 1
            probes += [(by, v) for v in values]
        frame = pl.DataFrame(_null_frame(spec, len(probes))).with_columns(
            pl.Series(tc, [midnight + timedelta(microseconds=i) for i in range(len(probes))],
                      dtype=spec.column(tc).polars_dtype),
            *[pl.Series(by, [v if b == by else None for b, v in probes],
                        dtype=spec.column(by).polars_dtype)
              for by in dict.fromkeys(r.by for r in self.rates)],
        )
        table = build_features(pl.concat([hist, frame]).lazy(), spec).filter(
            pl.col(tc) >= midnight).sort(tc).collect()
        labels = hist.select(spec.target.expr().cast(pl.Float64)).to_series().drop_nulls()
        overall = float(labels.mean()) if labels.len() else 0.0  # type: ignore[arg-type]
        out = {}
        for r in self.rates:
            rate, count = table.get_column(r.rate_column), table.get_column(r.count_column)
            # Keys as polars casts them to text (a Boolean group is "true", not "True").
            groups = {row_features.category_text([v])[0]: (float(rate[i]), float(count[i]))
                      for i, (by, v) in enumerate(probes) if by == r.by and i != unseen.get(by)}
            at = unseen.get(r.by)
            # The all-group fallback of build_features over the window is the overall rate.
            fallback = (float(rate[at]), float(count[at])) if at is not None else (overall, 0.0)
            out[r.rate_column] = (groups, fallback)
        with self._lock:
            self._days[day] = out
        return out

    def warm(self, days: list[date]) -> None:
        for day in days:
            self._day_rates(day)

    # -- request rows --------------------------------------------------------------------------
    def build(self, raw: pl.DataFrame) -> pl.DataFrame:
        """The model table of validated raw rows, in the rows' order."""
        spec, tc = self.spec, self.spec.time_column
        frame = raw
        if tc is None:
            frame = frame.with_columns(pl.int_range(0, pl.len(), dtype=pl.Int64).alias(ROW_INDEX))
        table = build_features(frame.lazy(), self._no_rates).collect()
        if tc is not None and raw.height > 1:
            order = [tc, *[k for k in spec.keys if k != tc]]
            position = raw.with_row_index("__i").sort(order, nulls_last=True).get_column("__i")
            table = table[position.arg_sort()]
        if not self.rates:
            return table
        assert tc is not None
        rates = self._rates(raw.get_column(tc).to_list(), {
            r.by: raw.get_column(r.by).cast(pl.String).fill_null(NULL_CATEGORY).to_list()
            for r in self.rates})
        extra = [pl.Series(name, values, dtype=pl.Float32) for name, values in rates.items()]
        num, cat = self.columns
        return table.with_columns(extra).select(
            *[c for c in table.columns if c not in num and c not in cat], *num, *cat)

    def _rates(self, times: list[datetime], groups: dict[str, list[str]]
               ) -> dict[str, np.ndarray]:
        """The rate and count columns (float32) of rows at `times` in groups (as text)."""
        days = [t.date() for t in times]
        per_day = {d: self._day_rates(d) for d in set(days)}
        out = {}
        for r in self.rates:
            pairs = [per_day[day][r.rate_column][0].get(group, per_day[day][r.rate_column][1])
                     for day, group in zip(days, groups[r.by], strict=True)]
            out[r.rate_column] = np.array([p[0] for p in pairs], dtype=np.float32)
            out[r.count_column] = np.array([p[1] for p in pairs], dtype=np.float32)
        return out

    def features(self, rows: ValidRows) -> FeatureColumns:
        """The feature columns of validated rows, in their order: per row in Python when the
        spec allows it and the rows were plain (parity with :meth:`build`: tested), else
        :meth:`build`."""
        if not self.plain or rows.columns is None:
            return FeatureColumns.from_table(self.build(rows.frame), *self.columns)
        cols, tc = rows.columns, self.spec.time_column
        rates = self._rates(cols[tc], {r.by: row_features.category_text(cols[r.by])
                                       for r in self.rates}) if self.rates and tc else None
        return row_features.row_features(cols, rows.height, self.spec, rates)
