"""Frames in lakeFS: reading a dataset's feature table at a commit, and the content hash of
the rows a model was trained on (what the model record and the reproduction compare)."""

import hashlib
import json
from typing import Any

import polars as pl

from mlops_assets.platform import layout
from mlops_assets.platform.lakefs_client import LakeFSClient


def rows_digest(frame: pl.DataFrame) -> str:
    """A content hash of exactly the rows trained on (order-sensitive; same polars version)."""
    return hashlib.sha256(frame.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()



def read_features(lakefs: LakeFSClient, ref: str, ds: str, keys: list[str]) -> pl.DataFrame:
    frames = lakefs.get_frames(ref, [layout.features(ds, k) for k in keys])
    return pl.concat(frames, how="vertical_relaxed")




def frames_digest(frames: list[pl.DataFrame]) -> str:
    """A content hash of several frames in order (a batch range's data version)."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(rows_digest(frame).encode())
    return digest.hexdigest()


def json_digest(value: Any) -> str:
    """A content hash of a JSON document as it is stored (keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
