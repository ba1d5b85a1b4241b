"""Metric names of the OTC market (``jaxmarket.otc.metrics``): ``parse_metric``, ``select_metric``,
``metric_size`` and ``METRIC_RANGES`` against what ``episode_metrics`` returns."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.otc import market
from jaxmarket.otc.metrics import (
    HOUR_METRICS,
    METRIC_RANGES,
    PER_LP_METRICS,
    episode_metrics,
    metric_is_scalar,
    metric_size,
    parse_metric,
    select_metric,
)

N_LPS, N_TIERS = 3, 4  # different counts, so that an LP index and a tier index are told apart
CONFIG = market.OTCConfig(n_lps=N_LPS, n_lts=2, n_flow=5, n_tiers=N_TIERS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flow_ecn", ("flow_ecn", None)),
        ("realized_vol", ("realized_vol", None)),
        ("market_share", ("market_share", None)),
        ("market_share[1]", ("market_share", 1)),
        ("final_inventory[2]", ("final_inventory", 2)),
        ("volume_profile", ("volume_profile", None)),
        ("volatility_profile[23]", ("volatility_profile", 23)),
        ("tier_spread_bp[2]", ("tier_spread_bp", 2)),
        ("tier_spread_bp[3]", ("tier_spread_bp", 3)),  # 4 tiers, 3 LPs: the tier count bounds it
    ],
)
def test_parse_metric_valid_names(name, expected):
    assert parse_metric(name, CONFIG) == expected


@pytest.mark.parametrize("name", ["flow_ecm", "Market_share[0]", "market_share[-1]", "market_share[0", "", "lp pnl"])
def test_parse_metric_unknown_name_lists_the_valid_ones(name):
    with pytest.raises(ValueError, match="is not an OTC metric") as err:
        parse_metric(name, CONFIG)
    message = str(err.value)
    assert repr(name) in message
    for valid in ("flow_ecn", "market_share", "volume_profile", "tier_spread_bp", "realized_vol"):
        assert repr(valid) in message


def test_parse_metric_refuses_a_name_that_is_not_a_string():
    with pytest.raises(ValueError, match="not an OTC metric"):
        parse_metric(3, CONFIG)


@pytest.mark.parametrize("name", ["flow_ecn[0]", "realized_vol[1]", "n_invalid_lp[0]"])
def test_parse_metric_index_on_a_scalar(name):
    with pytest.raises(ValueError, match=r"is a scalar, it takes no index") as err:
        parse_metric(name, CONFIG)
    assert repr(name) in str(err.value)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("market_share[3]", "[0, 2]"),  # 3 LPs
        ("lp_pnl[10]", "[0, 2]"),
        ("tier_spread_bp[4]", "[0, 3]"),  # 4 tiers
        ("volume_profile[24]", "[0, 23]"),
    ],
)
def test_parse_metric_index_out_of_range(name, valid):
    with pytest.raises(ValueError, match="out of range") as err:
        parse_metric(name, CONFIG)
    message = str(err.value)
    assert repr(name) in message and f"valid range is {valid}" in message


def test_metric_sizes():
    assert {m: metric_size(m, CONFIG) for m in ("market_share", "tier_spread_bp", "volume_profile", "flow_ecn")} == {
        "market_share": N_LPS, "tier_spread_bp": N_TIERS, "volume_profile": 24, "flow_ecn": 1,
    }
    for metric in METRIC_RANGES:
        assert metric_is_scalar(metric) == (metric_size(metric, CONFIG) == 1)


def fake_metrics(lead: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Metrics of ``episode_metrics``'s shapes with leading axes ``lead``, every entry distinct."""
    rng = np.random.default_rng(0)
    out = {}
    for metric in METRIC_RANGES:
        size = metric_size(metric, CONFIG)
        shape = lead if metric_is_scalar(metric) else lead + (size,)
        out[metric] = rng.integers(0, 5, shape).astype(np.int32) if metric.startswith("n_invalid") else \
            rng.uniform(0, 1, shape).astype(np.float32)
    return out


@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
def test_select_metric_shapes(lead):
    metrics = fake_metrics(lead)
    cases = {
        "flow_ecn": (1, lambda v: v[..., None]),
        "n_invalid_lt": (1, lambda v: v[..., None]),
        "market_share": (N_LPS, lambda v: v),
        "market_share[1]": (1, lambda v: v[..., 1:2]),
        "tier_spread_bp[3]": (1, lambda v: v[..., 3:4]),
        "volume_profile": (24, lambda v: v),
        "volatility_profile[0]": (1, lambda v: v[..., 0:1]),
    }
    for name, (k, expected) in cases.items():
        metric, index = parse_metric(name, CONFIG)
        got = select_metric(metrics, metric, index)
        assert got.shape == lead + (k,), name
        assert got.dtype == np.float32, name
        np.testing.assert_array_equal(got, expected(metrics[metric]).astype(np.float32), err_msg=name)


@pytest.fixture(scope="module")
def episode():
    """Metrics after a short OTC-v0 episode (8 rounds) under random valid actions."""
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=N_LPS, n_lts=2, n_flow=5, n_tiers=N_TIERS, n_rounds=8)
    fast = {"xla_backend_optimization_level": 0}  # small programs: XLA's optimisations cost more than they buy
    step = jax.jit(env.step_env, compiler_options=fast)
    rng = np.random.default_rng(7)
    _, state = jax.jit(env.reset_env, compiler_options=fast)(jax.random.key(30), params)
    metrics0 = jax.device_get(jax.jit(env.episode_metrics, compiler_options=fast)(state, params))
    info = None
    for k in jax.random.split(jax.random.key(31), 16):
        lp = np.concatenate([rng.uniform(-0.5, 1.0, (N_LPS, N_TIERS)), rng.uniform(-1, 1, (N_LPS, 1)),
                             rng.uniform(0, 1, (N_LPS, 1))], axis=1).astype(np.float32)
        lt = rng.integers(0, env.config.n_lt_actions, 2).astype(np.int32)
        _, state, _, _, info = step(k, state, {"lp": lp, "lt": lt}, params)
    return env, params, metrics0, jax.device_get(info["metrics"]), jax.device_get(state)


def test_metric_ranges_cover_exactly_the_episode_metrics(episode):
    env, params, metrics0, metrics, state = episode
    assert set(METRIC_RANGES) == set(metrics) == set(metrics0)
    assert set(PER_LP_METRICS) | set(HOUR_METRICS) | {"tier_spread_bp"} <= set(METRIC_RANGES)
    for name, value in metrics.items():
        size = metric_size(name, env.config)
        assert np.shape(value) == (() if size == 1 else (size,)), name
    np.testing.assert_equal(metrics, jax.device_get(episode_metrics(state, params)))


def test_episode_metrics_lie_in_their_ranges(episode):
    _, _, metrics0, metrics, state = episode
    assert int(state.round) == 8
    for snapshot in (metrics0, metrics):
        for name, value in snapshot.items():
            low, high = METRIC_RANGES[name]
            value = np.asarray(value, np.float64)
            assert np.all(np.isfinite(value)), name
            assert np.all((value >= low) & (value <= high)), (name, value, (low, high))
    assert metrics["flow_lp"] + metrics["flow_ecn"] == pytest.approx(1.0, rel=1e-5)
    assert metrics["market_share"].sum() == pytest.approx(metrics["flow_lp"], rel=1e-5)
