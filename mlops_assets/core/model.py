"""Tabular PyTorch model: preprocessing, training, prediction and serialization.

Pure functions only (no Dagster, no lakeFS) so the core can be tested in isolation and
reused by any orchestration layer. Preprocessing state is a plain JSON-able dict so it
can be stored next to the safetensors weights and diffed/audited as text.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl
import safetensors.torch
import torch
from torch import nn

from mlops_assets.core.train_config import TrainConfig

Task = Literal["binary", "regression"]

# Bump when the meta layout or the module architecture changes incompatibly.
FORMAT_VERSION = 1


def embedding_dim(cardinality: int, max_dim: int = 16) -> int:
    """Embedding width for a vocabulary of `cardinality` indices (including index 0)."""
    return min(max_dim, (cardinality + 1) // 2 + 1)


class TabularMLP(nn.Module):
    """MLP over [standardized numerics ++ one embedding per categorical]; outputs one logit."""

    def __init__(
        self,
        n_numeric: int,
        cardinalities: list[int],
        embedding_dims: list[int],
        hidden_sizes: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(c, d) for c, d in zip(cardinalities, embedding_dims, strict=True)
        )
        layers: list[nn.Module] = []
        width = n_numeric + sum(embedding_dims)
        for h in hidden_sizes:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        parts = [x_num] + [emb(x_cat[:, i]) for i, emb in enumerate(self.embeddings)]
        return self.mlp(torch.cat(parts, dim=1)).squeeze(-1)


@dataclass
class TrainedModel:
    module: TabularMLP
    preprocessing: dict[str, Any]
    config: TrainConfig
    history: dict[str, Any]
    numeric: list[str]
    categorical: list[str]
    target: str
    task: Task
    time_column: str
    architecture: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- preprocessing


def _fit_preprocessing(
    train: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    target: str,
    task: Task,
    min_category_count: int,
) -> dict[str, Any]:
    num_state: dict[str, dict[str, float]] = {}
    if numeric:
        stats = train.select(
            [pl.col(c).cast(pl.Float64).fill_nan(None).mean().alias(f"{c}__mean") for c in numeric]
            + [pl.col(c).cast(pl.Float64).fill_nan(None).std().alias(f"{c}__std") for c in numeric]
        ).row(0, named=True)
        for c in numeric:
            mean, std = stats[f"{c}__mean"], stats[f"{c}__std"]
            mean = 0.0 if mean is None or not math.isfinite(mean) else float(mean)
            # Constant / all-null columns: std 1 keeps the column at 0 instead of dividing by 0.
            std = 1.0 if std is None or not math.isfinite(std) or std < 1e-12 else float(std)
            num_state[c] = {"mean": mean, "std": std}

    cat_state: dict[str, list[str]] = {}
    for c in categorical:
        counts = (
            train.select(pl.col(c).cast(pl.Utf8))
            .drop_nulls()
            .group_by(c)
            .len()
            .filter(pl.col("len") >= min_category_count)
        )
        # Sorted so the vocabulary (and thus the weights layout) is order-independent.
        cat_state[c] = sorted(counts[c].to_list())

    state: dict[str, Any] = {"numeric": num_state, "categorical": cat_state}
    if task == "regression":
        y = train[target].cast(pl.Float64)
        mean, std = y.mean(), y.std()
        std = 1.0 if std is None or not math.isfinite(std) or std < 1e-12 else float(std)
        state["target"] = {"mean": float(mean or 0.0), "std": std}
    return state


def _writable(a: np.ndarray, dtype: type) -> np.ndarray:
    # polars may hand out read-only views; torch.from_numpy needs writable, C-ordered memory.
    return np.require(a, dtype=dtype, requirements=["C", "W"])


def _transform(
    frame: pl.DataFrame, state: dict[str, Any], numeric: list[str], categorical: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    missing = [c for c in numeric + categorical if c not in frame.columns]
    if missing:
        raise KeyError(f"frame is missing feature columns: {missing}")
    exprs: list[pl.Expr] = []
    for c in numeric:
        s = state["numeric"][c]
        x = pl.col(c).cast(pl.Float64).fill_nan(None).fill_null(s["mean"])
        exprs.append(((x - s["mean"]) / s["std"]).cast(pl.Float32).alias(f"n::{c}"))
    for c in categorical:
        vocab = state["categorical"][c]
        # Unseen, rare and null categories all collapse to index 0.
        exprs.append(
            pl.col(c)
            .cast(pl.Utf8)
            .replace_strict(vocab, list(range(1, len(vocab) + 1)), default=0, return_dtype=pl.Int64)
            .alias(f"c::{c}")
        )
    out = frame.select(exprs) if exprs else pl.DataFrame()
    n = frame.height
    if numeric:
        x_num = torch.from_numpy(
            _writable(out.select([f"n::{c}" for c in numeric]).to_numpy(), np.float32)
        )
    else:
        x_num = torch.zeros((n, 0), dtype=torch.float32)
    if categorical:
        x_cat = torch.from_numpy(
            _writable(out.select([f"c::{c}" for c in categorical]).to_numpy(), np.int64)
        )
    else:
        x_cat = torch.zeros((n, 0), dtype=torch.int64)
    return x_num.contiguous(), x_cat.contiguous()


def _target_tensor(
    frame: pl.DataFrame, target: str, task: Task, state: dict[str, Any]
) -> torch.Tensor:
    y = frame[target].cast(pl.Float64).to_numpy()
    if task == "binary":
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"binary target {target!r} must contain only 0/1")
    else:
        y = (y - state["target"]["mean"]) / state["target"]["std"]
    return torch.from_numpy(y.astype(np.float32))


def time_split(
    frame: pl.DataFrame, time_column: str, val_fraction: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split by time: the last `val_fraction` of rows (by time) is validation.

    The cut is moved to a timestamp boundary so no timestamp appears in both splits
    (otherwise same-time rows would leak); falls back to a plain row cut if every row
    shares the cut timestamp.
    """
    ordered = frame.sort(time_column, maintain_order=True, nulls_last=False)
    n = ordered.height
    n_val = math.ceil(n * val_fraction) if val_fraction > 0 else 0
    if n_val == 0:
        return ordered, ordered.clear()
    n_train = n - n_val
    if n_train <= 0:
        raise ValueError(f"val_fraction={val_fraction} leaves no training rows (n={n})")
    cut_time = ordered[time_column][n_train]
    if cut_time is not None:
        n_before = ordered.filter(pl.col(time_column) < cut_time).height
        n_nulls = ordered[time_column].null_count()  # nulls sort first: oldest
        n_boundary = n_before + n_nulls
        if n_boundary > 0:
            n_train = n_boundary
    return ordered.slice(0, n_train), ordered.slice(n_train)


# --------------------------------------------------------------------------- determinism


@contextmanager
def _deterministic_torch(seed: int, num_threads: int) -> Iterator[None]:
    """Seed + deterministic kernels + pinned threads, restoring the caller's global state."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    # fork_rng keeps our seeding from perturbing the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(prev_threads)
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)


# --------------------------------------------------------------------------- training


def _loss_fn(task: Task) -> nn.Module:
    return nn.BCEWithLogitsLoss() if task == "binary" else nn.MSELoss()


@torch.no_grad()
def _eval_loss(
    module: nn.Module,
    loss_fn: nn.Module,
    x_num: torch.Tensor,
    x_cat: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
) -> float:
    module.eval()
    total = 0.0
    n = y.shape[0]
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        out = module(x_num[sl], x_cat[sl])
        total += float(loss_fn(out, y[sl])) * out.shape[0]
    return total / n


def train_model(
    frame: pl.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    target: str,
    task: Task,
    time_column: str,
    config: TrainConfig,
    progress: Callable[[str], None] | None = None,
) -> TrainedModel:
    """Fit preprocessing on the time-based training split and train an MLP with early stopping.

    Same inputs + same config (incl. seed and num_threads) give bit-identical weights.
    """
    if task not in ("binary", "regression"):
        raise ValueError(f"unknown task {task!r}")
    if not numeric and not categorical:
        raise ValueError("need at least one numeric or categorical feature")
    overlap = set(numeric) & set(categorical)
    if overlap or target in numeric + categorical:
        raise ValueError(f"feature lists overlap each other or the target: {overlap or target}")

    if time_column == target:
        # Sorting by the label puts one class in each split (train loss ~0, validation AUC 0.5).
        raise ValueError(f"time_column {time_column!r} is the target: order the split by a time "
                         "column or by the row index (features.order_column)")
    # Rows without a label carry no training signal.
    data = frame.filter(pl.col(target).is_not_null())
    train_df, val_df = time_split(data, time_column, config.val_fraction)
    if train_df.height == 0:
        raise ValueError("no training rows")

    state = _fit_preprocessing(
        train_df, numeric, categorical, target, task, config.min_category_count
    )
    xn_tr, xc_tr = _transform(train_df, state, numeric, categorical)
    y_tr = _target_tensor(train_df, target, task, state)
    has_val = val_df.height > 0
    if has_val:
        xn_va, xc_va = _transform(val_df, state, numeric, categorical)
        y_va = _target_tensor(val_df, target, task, state)

    cardinalities = [len(state["categorical"][c]) + 1 for c in categorical]
    architecture = {
        "n_numeric": len(numeric),
        "cardinalities": cardinalities,
        "embedding_dims": [embedding_dim(c, config.max_embedding_dim) for c in cardinalities],
        "hidden_sizes": list(config.hidden_sizes),
        "dropout": config.dropout,
    }

    history: dict[str, Any] = {
        "train_loss": [],
        "val_loss": [],
        "best_epoch": None,
        "best_val_loss": None,
        "epochs_run": 0,
        "stopped_early": False,
        "n_train": train_df.height,
        "n_val": val_df.height,
        "val_start_time": str(val_df[time_column][0]) if has_val else None,
        "train_seconds": None,
    }

    t0 = time.perf_counter()
    with _deterministic_torch(config.seed, config.num_threads):
        module = _build_module(architecture)
        loss_fn = _loss_fn(task)
        opt = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        gen = torch.Generator().manual_seed(config.seed)
        n = y_tr.shape[0]
        best_loss = math.inf
        best_state: dict[str, torch.Tensor] | None = None
        bad_epochs = 0

        for epoch in range(1, config.max_epochs + 1):
            module.train()
            perm = torch.randperm(n, generator=gen)
            total = 0.0
            for start in range(0, n, config.batch_size):
                idx = perm[start : start + config.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(module(xn_tr[idx], xc_tr[idx]), y_tr[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.shape[0]
            train_loss = total / n
            if not math.isfinite(train_loss):
                raise FloatingPointError(f"training loss diverged at epoch {epoch}: {train_loss}")

            # Without a validation split, the last epoch is "best" (no early stopping).
            val_loss = (
                _eval_loss(module, loss_fn, xn_va, xc_va, y_va, config.predict_batch_size)
                if has_val
                else train_loss
            )
            history["train_loss"].append(train_loss)
            if has_val:
                history["val_loss"].append(val_loss)
            history["epochs_run"] = epoch
            if progress is not None:
                vl = f"{val_loss:.5f}" if has_val else "n/a"
                progress(
                    f"epoch {epoch}/{config.max_epochs} train_loss={train_loss:.5f} val_loss={vl}"
                )

            if val_loss < best_loss or not has_val:
                best_loss = val_loss
                history["best_epoch"] = epoch
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
                bad_epochs = 0
            else:
                bad_epochs += 1
                if bad_epochs >= config.patience:
                    history["stopped_early"] = epoch < config.max_epochs
                    break

        assert best_state is not None
        module.load_state_dict(best_state)
        module.eval()

    history["best_val_loss"] = best_loss if has_val else None
    history["train_seconds"] = round(time.perf_counter() - t0, 3)
    return TrainedModel(
        module=module,
        preprocessing=state,
        config=config,
        history=history,
        numeric=list(numeric),
        categorical=list(categorical),
        target=target,
        task=task,
        time_column=time_column,
        architecture=architecture,
    )


def _build_module(arch: dict[str, Any]) -> TabularMLP:
    return TabularMLP(
        n_numeric=int(arch["n_numeric"]),
        cardinalities=[int(c) for c in arch["cardinalities"]],
        embedding_dims=[int(d) for d in arch["embedding_dims"]],
        hidden_sizes=tuple(int(h) for h in arch["hidden_sizes"]),
        dropout=float(arch["dropout"]),
    )


# --------------------------------------------------------------------------- prediction


def predict(m: TrainedModel, frame: pl.DataFrame) -> np.ndarray:
    """Probabilities (binary) or target-scale values (regression), float64, one per row.

    Processes `config.predict_batch_size` rows at a time so peak memory stays bounded.
    """
    out = np.empty(frame.height, dtype=np.float64)
    bs = m.config.predict_batch_size
    was_training = m.module.training
    m.module.eval()
    try:
        with torch.inference_mode():
            for start in range(0, frame.height, bs):
                chunk = frame.slice(start, bs)
                x_num, x_cat = _transform(chunk, m.preprocessing, m.numeric, m.categorical)
                raw = m.module(x_num, x_cat)
                if m.task == "binary":
                    raw = torch.sigmoid(raw)
                out[start : start + chunk.height] = raw.double().numpy()
    finally:
        m.module.train(was_training)
    if m.task == "regression":
        t = m.preprocessing["target"]
        out = out * t["std"] + t["mean"]
    return out


# --------------------------------------------------------------------------- serialization


def serialize_model(m: TrainedModel) -> tuple[bytes, dict[str, Any]]:
    """(safetensors weights, JSON-able meta). Meta holds everything but the tensors."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in m.module.state_dict().items()}
    weights = safetensors.torch.save(tensors)
    meta = {
        "format_version": FORMAT_VERSION,
        "task": m.task,
        "target": m.target,
        "time_column": m.time_column,
        "numeric": list(m.numeric),
        "categorical": list(m.categorical),
        "config": asdict(m.config),
        "architecture": m.architecture,
        "preprocessing": m.preprocessing,
        "history": m.history,
        "torch_version": torch.__version__,
    }
    return weights, meta


def deserialize_model(weights: bytes, meta: dict[str, Any]) -> TrainedModel:
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported model format_version {version!r} (want {FORMAT_VERSION})")
    module = _build_module(meta["architecture"])
    module.load_state_dict(safetensors.torch.load(weights), strict=True)
    module.eval()
    return TrainedModel(
        module=module,
        preprocessing=meta["preprocessing"],
        config=TrainConfig.from_dict(meta["config"]),
        history=meta["history"],
        numeric=list(meta["numeric"]),
        categorical=list(meta["categorical"]),
        target=meta["target"],
        task=meta["task"],
        time_column=meta["time_column"],
        architecture=meta["architecture"],
    )


def weights_sha256(weights: bytes) -> str:
    return hashlib.sha256(weights).hexdigest()
