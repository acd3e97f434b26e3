import dataclasses
import json

import numpy as np
import polars as pl
import pytest
import torch

from mlops_assets.core.metrics import auc_score
from mlops_assets.core.model import (
    TrainConfig,
    deserialize_model,
    embedding_dim,
    predict,
    serialize_model,
    time_split,
    train_model,
    weights_sha256,
)

NUM = ["x1", "x2", "x3"]
CAT = ["city", "kind"]
SMALL = TrainConfig(hidden_sizes=(16, 8), max_epochs=15, patience=3, batch_size=64, lr=5e-3)


def _frame(n: int = 800, seed: int = 0, task: str = "binary") -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    city = rng.choice(["ams", "ber", "par", "rom"], n)
    kind = rng.choice(["a", "b"], n)
    signal = 1.5 * x[:, 0] - x[:, 1] + np.where(city == "ams", 1.5, 0.0)
    if task == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-signal))).astype(np.int64)
    else:
        y = 100.0 + 10.0 * signal + rng.normal(size=n)
    x2 = x[:, 1].tolist()
    x2[5] = None  # nulls must be imputed, not crash
    # Shuffled timestamps: the split must sort by time, not trust row order.
    t = rng.permutation(n)
    return pl.DataFrame(
        {"x1": x[:, 0], "x2": x2, "x3": x[:, 2], "city": city, "kind": kind, "y": y, "t": t}
    )


def _train(frame: pl.DataFrame, task: str = "binary", config: TrainConfig = SMALL, **kw):
    return train_model(
        frame,
        numeric=NUM,
        categorical=CAT,
        target="y",
        task=task,
        time_column="t",
        config=config,
        **kw,
    )


def test_binary_model_learns_and_reports_progress():
    df = _frame()
    lines: list[str] = []
    m = _train(df, progress=lines.append)
    h = m.history
    assert len(lines) == h["epochs_run"] == len(h["train_loss"]) == len(h["val_loss"])
    assert lines[0].startswith("epoch 1/") and "val_loss=" in lines[0]
    assert h["n_train"] + h["n_val"] == df.height and h["n_val"] == 160
    _, val = time_split(df, "t", SMALL.val_fraction)
    p = predict(m, val)
    assert ((p > 0) & (p < 1)).all()
    assert auc_score(val["y"].to_numpy(), p) > 0.8


def test_regression_predicts_on_target_scale():
    df = _frame(task="regression")
    m = _train(df, task="regression", config=dataclasses.replace(SMALL, max_epochs=40))
    assert m.preprocessing["target"]["mean"] == pytest.approx(100, abs=3)
    _, val = time_split(df, "t", SMALL.val_fraction)
    p = predict(m, val)
    y = val["y"].to_numpy()
    r2 = 1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2 > 0.8


def test_training_is_bit_identical_for_same_seed_and_restores_torch_state():
    df = _frame(n=400)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()

    w1, _ = serialize_model(_train(df))
    w2, _ = serialize_model(_train(df))
    assert w1 == w2 and weights_sha256(w1) == weights_sha256(w2)
    w3, _ = serialize_model(_train(df, config=dataclasses.replace(SMALL, seed=1)))
    assert w3 != w1

    # The caller's global torch state is untouched.
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


def test_time_split_uses_time_order_and_keeps_ties_together():
    df = pl.DataFrame({"t": [5, 1, 4, 2, 3, 3, 3, 0, 6, 7], "v": list(range(10))})
    train, val = time_split(df, "t", 0.3)
    assert train["t"].max() < val["t"].min()
    assert val["t"].to_list() == [5, 6, 7]
    # The 30% cut falls inside the run of t=3; the whole run goes to validation.
    train, val = time_split(df, "t", 0.5)
    assert train["t"].to_list() == [0, 1, 2]
    assert sorted(val["t"].to_list()) == [3, 3, 3, 4, 5, 6, 7]
    train, val = time_split(df, "t", 0.0)
    assert train.height == 10 and val.height == 0


def test_preprocessing_fitted_on_training_split_only():
    df = _frame(n=400)
    # A category that only appears in the most recent (validation) period.
    late = pl.col("t") >= 380
    df = df.with_columns(pl.when(late).then(pl.lit("new")).otherwise(pl.col("city")).alias("city"))
    m = _train(df, config=dataclasses.replace(SMALL, max_epochs=2))
    train, _ = time_split(df, "t", SMALL.val_fraction)
    assert "new" not in m.preprocessing["categorical"]["city"]
    assert m.preprocessing["categorical"]["city"] == ["ams", "ber", "par", "rom"]
    assert m.preprocessing["numeric"]["x1"]["mean"] == pytest.approx(train["x1"].mean())
    assert m.preprocessing["numeric"]["x1"]["std"] == pytest.approx(train["x1"].std())
    card = len(m.preprocessing["categorical"]["city"]) + 1
    assert m.module.embeddings[0].num_embeddings == card
    assert m.module.embeddings[0].embedding_dim == embedding_dim(card) == 4


def test_unseen_and_null_categories_map_to_unknown_and_null_numeric_to_mean():
    m = _train(_frame(n=400), config=dataclasses.replace(SMALL, max_epochs=3))
    row = {"x1": 0.3, "x2": -0.2, "x3": 1.0, "city": "ams", "kind": "a"}
    mean_x2 = m.preprocessing["numeric"]["x2"]["mean"]
    frame = pl.DataFrame(
        [
            {**row, "city": "zurich"},
            {**row, "city": None},
            {**row, "x2": None},
            {**row, "x2": mean_x2},
            row,
        ]
    )
    p = predict(m, frame)
    assert p[0] == p[1]  # unseen == null == index 0
    assert p[2] == p[3]  # null numeric == train mean
    assert p[0] != p[4]


def test_serialization_round_trip_predicts_identically():
    df = _frame(n=400)
    m = _train(df, config=dataclasses.replace(SMALL, max_epochs=3))
    weights, meta = serialize_model(m)
    meta = json.loads(json.dumps(meta, allow_nan=False))  # strict JSON round trip
    m2 = deserialize_model(weights, meta)
    assert m2.config == m.config
    assert np.array_equal(predict(m, df), predict(m2, df))
    assert serialize_model(m2)[0] == weights
    assert len(weights_sha256(weights)) == 64
    with pytest.raises(ValueError):
        deserialize_model(weights, {**meta, "format_version": 999})


def test_batched_prediction_matches_single_batch():
    df = _frame(n=300)
    m = _train(df, config=dataclasses.replace(SMALL, max_epochs=2))
    full = predict(m, df)
    m.config = dataclasses.replace(m.config, predict_batch_size=7)
    assert np.allclose(predict(m, df), full, rtol=1e-6, atol=1e-7)
    assert predict(m, df.clear()).shape == (0,)


def test_early_stopping_restores_best_weights():
    # Pure noise target: validation loss stops improving quickly.
    df = _frame(n=600).with_columns(pl.Series("y", np.random.default_rng(9).integers(0, 2, 600)))
    cfg = dataclasses.replace(SMALL, max_epochs=60, patience=2, lr=2e-2)
    m = _train(df, config=cfg)
    h = m.history
    assert h["stopped_early"] and h["epochs_run"] < 60
    assert h["epochs_run"] == h["best_epoch"] + cfg.patience
    assert h["best_val_loss"] == min(h["val_loss"])
    _, val = time_split(df, "t", cfg.val_fraction)
    p = np.clip(predict(m, val), 1e-7, 1 - 1e-7)
    y = val["y"].to_numpy()
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert bce == pytest.approx(h["best_val_loss"], rel=1e-4)


def test_config_is_json_serializable_and_validated():
    d = dataclasses.asdict(SMALL)
    assert TrainConfig.from_dict(json.loads(json.dumps(d))) == SMALL
    with pytest.raises(ValueError):
        TrainConfig(val_fraction=1.0)
    with pytest.raises(ValueError):
        TrainConfig.from_dict({"nope": 1})


def test_bad_inputs_raise():
    df = _frame(n=100)
    with pytest.raises(ValueError):
        train_model(df, numeric=[], categorical=[], target="y", task="binary",
                    time_column="t", config=SMALL)  # fmt: skip
    with pytest.raises(ValueError):
        _train(df.with_columns(pl.lit(2).alias("y")))
    m = _train(df, config=dataclasses.replace(SMALL, max_epochs=1))
    with pytest.raises(KeyError):
        predict(m, df.drop("x1"))
