"""A synthetic daily stream with known change points (tests, the detection benchmark, demos).

Shaped like the flight batches that made fixed thresholds fail: one weekday per daily batch, a
weekday categorical constant within a batch, weekday-dependent numerics, autocorrelated rolling
rate features (a 7-day rolling mean of an AR(1) daily level), n varying by weekday and by day.
16 numeric features ``x0..x15`` + 4 categorical ``weekday, c1, c2, c3`` + a label ``y`` and a
model score ``score``.

Shift kinds (applied to days >= ``change_day``): "none"; "mean" (x0 += 0.2 sd); "scale"
(x1 * 1.2); "correlation" (x5, x6 from independent to rho 0.5, marginals unchanged);
"category" (c1's top category share down by 30 % relative, 0.40 -> 0.28, mass moved to the
others); "label_prior" (P(y=1) 0.30 -> 0.45; x3, x4 and the score depend on y);
"subpopulation" (rows with c3 in {k0, k1}, 20 %: x7 += 1 sd).
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["CATEGORICAL", "NUMERIC", "SHIFTS", "daily_stream"]

NUMERIC = [f"x{i}" for i in range(16)]
CATEGORICAL = ["weekday", "c1", "c2", "c3"]
SHIFTS = ("none", "mean", "scale", "correlation", "category", "label_prior", "subpopulation")
_WEEKDAY_N = np.array([1.0, 1.1, 1.05, 1.0, 1.2, 0.8, 0.7])
_C1_P = np.array([0.4, 0.3, 0.15, 0.1, 0.05])


def _c1_probs(shifted: bool) -> np.ndarray:
    if not shifted:
        return _C1_P
    p = _C1_P.copy()
    moved = 0.3 * p[0]
    p[0] -= moved
    p[1:] += moved * p[1:] / p[1:].sum()
    return p


def daily_stream(n_days: int, rows_per_day: float, *, shift: str = "none",
                 change_day: int | None = None, seed: int = 0, start_day: int = 0,
                 vary_n: bool = True, structured: bool = True) -> pl.DataFrame:
    """Rows of days ``start_day .. start_day + n_days - 1`` (column ``day``, zero-padded str).
    ``rows_per_day`` is the mean; with ``vary_n`` it varies by weekday and +-15 % by day.
    ``structured=False``: every row i.i.d. (no weekday effects, no rolling level, a random
    weekday per row, fixed n): the setting in which per-batch tests such as alibi-detect's are
    valid, for fair comparisons."""
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; expected one of {SHIFTS}")
    rng = np.random.default_rng(seed)
    # The daily level behind the rolling features starts far back so the AR(1) is stationary
    # and a stream continuing the reference (start_day > 0) uses a fresh but same-law path.
    days = np.arange(start_day, start_day + n_days)
    level = np.zeros(n_days + 7)
    level[0] = rng.normal(0, 0.3 / np.sqrt(1 - 0.8**2))
    for i in range(1, level.size):
        level[i] = 0.8 * level[i - 1] + rng.normal(0, 0.3)
    rolling = np.convolve(level, np.ones(7) / 7, mode="valid")[:n_days]
    if not structured:
        rolling[:] = 0.0
        vary_n = False
    frames = []
    for j, d in enumerate(days):
        w = int(d % 7)
        ws = rng.integers(0, 7, size=max(round(rows_per_day), 2)) if not structured else w
        n = rows_per_day * (_WEEKDAY_N[w] if vary_n else 1.0)
        if vary_n:
            n *= rng.uniform(0.85, 1.15)
        n = max(round(n), 2)
        after = change_day is not None and d >= change_day
        s = shift if after else "none"
        prior = 0.45 if s == "label_prior" else 0.30
        y = (rng.uniform(size=n) < prior).astype(np.int64)
        x = rng.normal(size=(n, 16))
        x[:, 0] += 0.2 if s == "mean" else 0.0
        x[:, 1] *= 1.2 if s == "scale" else 1.0
        if s == "correlation":
            x[:, 6] = 0.5 * x[:, 5] + np.sqrt(1 - 0.25) * x[:, 6]
        x[:, 3] += 0.8 * y
        x[:, 4] += 0.5 * y
        x[:, 10] += 0.3 * np.sin(2 * np.pi * ws / 7)  # weekday-dependent means
        x[:, 11] += 0.2 * np.cos(2 * np.pi * ws / 7)
        x[:, 12] = rolling[j] + 0.3 * x[:, 12]  # rolling rates: mostly a day-level value
        x[:, 13] = 0.5 * rolling[j] + 0.5 * x[:, 13]
        x[:, 14] = np.exp(0.5 * x[:, 14])  # skewed
        # discrete, weekend-dependent
        x[:, 15] = rng.poisson(3.0 + 0.3 * (np.asarray(ws) >= 5), size=n)
        c3 = rng.integers(0, 10, size=n)
        if s == "subpopulation":
            x[c3 < 2, 7] += 1.0
        c1 = rng.choice(5, size=n, p=_c1_probs(s == "category"))
        if structured:
            c2 = rng.choice(3, size=n, p=[0.5, 0.3, 0.2] if w < 5 else [0.3, 0.3, 0.4])
        else:
            c2 = np.where(np.asarray(ws) >= 5, rng.choice(3, size=n, p=[0.3, 0.3, 0.4]),
                          rng.choice(3, size=n, p=[0.5, 0.3, 0.2]))
        logit = -1.0 + 1.2 * x[:, 3] + 0.6 * x[:, 4] + 0.3 * x[:, 0] + 0.2 * x[:, 12]
        frames.append(pl.DataFrame({
            "day": [f"{d:05d}"] * n,
            **{f"x{i}": x[:, i] for i in range(16)},
            "weekday": [f"w{v}" for v in np.broadcast_to(ws, (n,))],
            "c1": [f"a{v}" for v in c1],
            "c2": [f"b{v}" for v in c2],
            "c3": [f"k{v}" for v in c3],
            "y": y,
            "score": 1.0 / (1.0 + np.exp(-logit)),
        }))
    return pl.concat(frames)
