"""Intraday seasonality of the OTC market (``jaxmarket.otc.seasonality``): the clock of the rounds,
flow clients' arrivals by hour of day, the per-hour accumulators of ``OTCState`` and the metrics
read from them, and the per-LP connectivity ``p_connect``.

Episodes are whole OTC-v0 episodes (``env.step_env``, no auto-reset) under fixed random actions,
``N_ENVS`` of them at once (vmapped over the keys) in one jitted scan; parameters are traced, so
every parameter set of one pytree structure shares one compile.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.core.supertypes import Uniform
from jaxmarket.otc import market
from jaxmarket.otc.seasonality import FLAT_HOUR_PROFILE, HOURS_PER_DAY, arrival_probability, round_hour
from jaxmarket.otc.types import default_lt_supertype

N_LPS, N_LTS, N_FLOW, N_TIERS = 2, 2, 8, 2
N_CLIENTS = N_LTS + N_FLOW
N_ROUNDS = 96
N_PHASES = 2  # Stackelberg: the LPs quote, then the RL clients choose and the round settles
N_STEPS = N_ROUNDS * N_PHASES
N_ENVS = 16
NO_TRADE_VENUE = market.no_trade_venue(N_LPS)

fast_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def hand_hour(t, open_hour: float, hours_per_round: float) -> np.ndarray:
    """The hour of day of round ``t`` in float64: ``floor(open_hour + t h) mod 24``."""
    return np.mod(np.floor(open_hour + np.asarray(t, np.float64) * hours_per_round), 24).astype(np.int64)


# --- round_hour and arrival_probability ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("t", "open_hour", "hours_per_round", "expected"),
    [
        (0, 22.5, 0.25, 22),   # 22:30
        (1, 22.5, 0.25, 22),   # 22:45
        (2, 22.5, 0.25, 23),   # 23:00
        (5, 22.5, 0.25, 23),   # 23:45
        (6, 22.5, 0.25, 0),    # 24:00 wraps to midnight
        (9, 22.5, 0.25, 0),    # 00:45
        (10, 22.5, 0.25, 1),   # 01:00
        (95, 22.5, 0.25, 22),  # 22:15 the next day
        (96, 22.5, 0.25, 22),  # 22:30, one day later
        (102, 22.5, 0.25, 0),  # 48:00, the second midnight
        (95, 0.0, 0.25, 23),   # the default clock: 23:45
        (17, 0.0, 1.5, 1),     # 25.5 hours
        (3, 13.0, 4.0, 1),     # 25:00 with 4-hour rounds
    ],
)
def test_round_hour_by_hand(t, open_hour, hours_per_round, expected):
    hour = round_hour(jnp.asarray(t, jnp.int32), open_hour, hours_per_round)
    assert hour.dtype == jnp.int32
    assert int(hour) == expected


def test_round_hour_keeps_the_shape_of_t():
    t = np.arange(200, dtype=np.int32).reshape(10, 20)
    hour = np.asarray(round_hour(jnp.asarray(t), 22.5, 0.25))
    assert hour.shape == (10, 20)
    np.testing.assert_array_equal(hour, hand_hour(t, 22.5, 0.25))
    assert hour.min() >= 0 and hour.max() < HOURS_PER_DAY


def test_arrival_probability_scales_and_clips_at_one():
    p_trade = jnp.asarray([0.0, 0.2, 0.5, 0.9], jnp.float32)
    profile = np.ones(HOURS_PER_DAY, np.float32)
    profile[3], profile[7], profile[11] = 2.0, 0.0, 0.5
    got = {h: np.asarray(arrival_probability(p_trade, jnp.asarray(profile), jnp.asarray(h, jnp.int32)))
           for h in (0, 3, 7, 11)}
    np.testing.assert_array_equal(got[0], np.asarray(p_trade))  # a multiplier of 1 changes nothing, exactly
    np.testing.assert_allclose(got[3], [0.0, 0.4, 1.0, 1.0], rtol=1e-6)  # 2 x 0.5 and 2 x 0.9 clipped at 1
    np.testing.assert_array_equal(got[7], np.zeros(4))
    np.testing.assert_allclose(got[11], [0.0, 0.1, 0.25, 0.45], rtol=1e-6)
    assert got[3].dtype == np.float32


def test_flat_profile_is_all_ones():
    assert FLAT_HOUR_PROFILE == (1.0,) * 24 and HOURS_PER_DAY == 24
    assert market.OTCParams().hour_profile == FLAT_HOUR_PROFILE


# --- whole episodes ----------------------------------------------------------------------------------------

class Episodes:
    """OTC-v0 (``N_LPS`` LPs, ``N_LTS`` RL clients, ``N_FLOW`` flow clients) and a jitted function running
    ``N_ENVS`` episodes of ``N_ROUNDS`` rounds under given actions (the same actions in every env)."""

    def __init__(self) -> None:
        self.env, self.params = jm.make("jaxmarket/OTC-v0", n_lps=N_LPS, n_lts=N_LTS, n_flow=N_FLOW, n_tiers=N_TIERS,
                                        n_rounds=N_ROUNDS)
        env = self.env

        def one(key, params, lp_actions, lt_actions):
            k_reset, k_steps = jax.random.split(key)
            _, state0 = env.reset_env(k_reset, params)

            def body(state, xs):
                k, lp, lt = xs
                _, state, rewards, _, info = env.step_env(k, state, {"lp": lp, "lt": lt}, params)
                out = {
                    "settled": info["settled"], "trades": info["trades"], "metrics": info["metrics"],
                    "price": state.price, "round": state.round, "lp_wealth": state.lp_wealth,
                    "client_wealth": state.client_wealth, "ecn_wealth": state.ecn_wealth, "rewards": rewards,
                }
                return state, out

            keys = jax.random.split(k_steps, lp_actions.shape[0])
            final, path = jax.lax.scan(body, state0, (keys, lp_actions, lt_actions))
            return state0, final, path

        self._run = fast_jit(jax.vmap(one, in_axes=(0, None, None, None)))

    def make_params(self, **overrides):
        """Parameters with ``hour_profile`` an array (one pytree structure: one compile for all of them)."""
        overrides.setdefault("hour_profile", np.ones(HOURS_PER_DAY, np.float32))
        overrides["hour_profile"] = np.asarray(overrides["hour_profile"], np.float32)
        return self.env.make_params(n_rounds=N_ROUNDS, **overrides)

    def run(self, seed: int, params, lp_actions, lt_actions):
        """``(state0, final state, path)`` as numpy, with a leading env axis (path: (N_ENVS, N_STEPS, ...))."""
        keys = jax.random.split(jax.random.key(seed), N_ENVS)
        return jax.device_get(self._run(keys, params, lp_actions, lt_actions))


def random_actions(seed: int, lt_trade: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fixed actions for a whole episode: (N_STEPS, n_lps, n_tiers + 2) LP actions inside their box and
    (N_STEPS, n_lts) RL client codes (all no trade unless ``lt_trade``)."""
    rng = np.random.default_rng(seed)
    eps = rng.uniform(-0.5, 1.0, (N_STEPS, N_LPS, N_TIERS))
    skew = rng.uniform(-1.0, 1.0, (N_STEPS, N_LPS, 1))
    hedge = rng.uniform(0.0, 1.0, (N_STEPS, N_LPS, 1))
    lp = np.concatenate([eps, skew, hedge], axis=2).astype(np.float32)
    n_codes = 1 + 2 * (N_LPS + 1)
    lt = rng.integers(0, n_codes, (N_STEPS, N_LTS)) if lt_trade else np.zeros((N_STEPS, N_LTS))
    return lp, lt.astype(np.int32)


@pytest.fixture(scope="module")
def episodes() -> Episodes:
    return Episodes()


def settled_rounds(path) -> tuple[np.ndarray, np.ndarray]:
    """Per env, the steps that settled a round (N_ENVS, N_ROUNDS) and each one's round index."""
    settled = np.asarray(path["settled"])
    steps = np.stack([np.flatnonzero(s) for s in settled])
    assert steps.shape == (N_ENVS, N_ROUNDS)
    rounds = np.take_along_axis(np.asarray(path["round"]), steps, axis=1) - 1
    np.testing.assert_array_equal(rounds, np.broadcast_to(np.arange(N_ROUNDS), rounds.shape))
    return steps, rounds


def at_steps(x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``x`` (N_ENVS, N_STEPS, ...) at the settled steps (N_ENVS, N_ROUNDS)."""
    index = steps.reshape(steps.shape + (1,) * (x.ndim - 2))
    return np.take_along_axis(x, index, axis=1)


def flow_trading(path, steps: np.ndarray) -> np.ndarray:
    """(N_ENVS, N_ROUNDS, N_FLOW) bool: whether each flow client (the last N_FLOW clients) traded."""
    venue = at_steps(np.asarray(path["trades"]["venue"]), steps)
    return venue[:, :, N_LTS:] != NO_TRADE_VENUE


def assert_same_episode(a, b) -> None:
    """Bitwise the same prices, trades, wealths and rewards at every step of two runs."""
    (_, _, pa), (_, _, pb) = a, b
    for name in ("price", "lp_wealth", "client_wealth", "ecn_wealth", "settled", "round"):
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)
    for name in ("venue", "side", "size", "paid", "hedge", "lp_spread", "lp_hedge_cost", "lp_inventory_pnl", "share"):
        np.testing.assert_array_equal(pa["trades"][name], pb["trades"][name], err_msg=f"trades[{name!r}]")
    for family in ("lp", "lt"):
        np.testing.assert_array_equal(pa["rewards"][family], pb["rewards"][family], err_msg=f"rewards[{family!r}]")


def test_flat_default_profile_changes_nothing(episodes):
    """The default profile (the tuple of 24 ones) gives bitwise the episode of an explicit array of ones,
    and, the profile being flat, the clock (open_hour, hours_per_round) changes no price, trade or wealth."""
    lp, lt = random_actions(1)
    default = episodes.env.make_params(n_rounds=N_ROUNDS)
    assert default.hour_profile == FLAT_HOUR_PROFILE and default.open_hour == 0.0
    base = episodes.run(11, default, lp, lt)
    assert_same_episode(base, episodes.run(11, episodes.make_params(), lp, lt))
    explicit = episodes.env.make_params(n_rounds=N_ROUNDS, hour_profile=(1.0,) * 24)
    assert_same_episode(base, episodes.run(11, explicit, lp, lt))
    assert_same_episode(base, episodes.run(11, episodes.make_params(open_hour=13.0, hours_per_round=0.5), lp, lt))
    # the runs are not trivially equal: the flow clients traded and the price moved
    steps, _ = settled_rounds(base[2])
    assert flow_trading(base[2], steps).mean() > 0.2
    prices = at_steps(base[2]["price"], steps)
    assert np.all(np.diff(prices, axis=1) != 0.0)


def test_one_hour_profile_confines_flow_trades_to_its_rounds(episodes):
    """open_hour 22.5, 15-minute rounds: hour 1 (01:00-02:00) is rounds 10 to 13 (22.5 + 0.25 t in [25, 26)).
    With every multiplier 0 but hour 1's, flow clients trade in those rounds only; RL clients trade as told."""
    lp, lt = random_actions(2)
    profile = np.zeros(HOURS_PER_DAY, np.float32)
    profile[1] = 2.0
    params = episodes.make_params(hour_profile=profile, open_hour=22.5, hours_per_round=0.25)
    _, _, path = episodes.run(12, params, lp, lt)
    steps, _ = settled_rounds(path)
    flow = flow_trading(path, steps)  # (N_ENVS, N_ROUNDS, N_FLOW)
    rounds_with_flow = np.flatnonzero(flow.any(axis=(0, 2)))
    np.testing.assert_array_equal(rounds_with_flow, [10, 11, 12, 13])
    # doubled p_trade in [0.2, 0.6]: at least 40% of the client-rounds of hour 1 trade (about 80% expected)
    assert flow[:, 10:14].mean() > 0.4
    venue = at_steps(np.asarray(path["trades"]["venue"]), steps)
    assert (venue[:, :, :N_LTS] != NO_TRADE_VENUE).any(axis=(0, 2)).sum() > 40  # RL clients trade in other rounds


def test_doubled_profile_doubles_flow_trades(episodes):
    """p_trade ~ U(0.1, 0.5), so 2 p_trade <= 1 is never clipped: a profile of 2 everywhere doubles the
    expected flow trades. Same keys (same types and draws): N_ENVS x N_ROUNDS x N_FLOW = 12,288 client-rounds,
    about 3,700 trades flat; the ratio's standard deviation is about 0.02, the tolerance 0.1 (5 sigma)."""
    lp, lt = random_actions(3)
    lt_supertype = {**default_lt_supertype(), "p_trade": Uniform(0.1, 0.5)}
    counts = []
    for multiplier in (1.0, 2.0):
        params = episodes.make_params(hour_profile=np.full(HOURS_PER_DAY, multiplier), lt_supertype=lt_supertype)
        _, _, path = episodes.run(13, params, lp, lt)
        steps, _ = settled_rounds(path)
        counts.append(flow_trading(path, steps).sum())
    flat, doubled = counts
    assert 3000 < flat < 4400
    assert abs(doubled / flat - 2.0) < 0.1


# --- per-hour accumulators and their metrics ---------------------------------------------------------------

OPEN_HOUR, HOURS_PER_ROUND = 22.5, 0.125  # 96 rounds of 7.5 minutes: 22:30 to 10:30, past midnight
ROUNDS_PER_YEAR = 252.0 * 96.0


def recorded(path, state0, steps) -> dict[str, np.ndarray]:
    """Per env and round (N_ENVS, N_ROUNDS): the hour of day, the client volume, the log return."""
    venue = at_steps(np.asarray(path["trades"]["venue"]), steps)
    size = at_steps(np.asarray(path["trades"]["size"]), steps)
    volume = np.where(venue != NO_TRADE_VENUE, size, 0.0).astype(np.float64).sum(axis=2)
    prices = np.concatenate([np.asarray(state0.price)[:, None], at_steps(np.asarray(path["price"]), steps)], axis=1)
    assert prices.dtype == np.float32
    # float32 as the market computes it: the price ratio, then its log (a float64 log of the float32 prices
    # differs by about 1e-4 relative, the rounding of the ratio near 1)
    log_return = np.log(prices[:, 1:] / prices[:, :-1]).astype(np.float64)
    hours = np.broadcast_to(hand_hour(np.arange(N_ROUNDS), OPEN_HOUR, HOURS_PER_ROUND), volume.shape)
    return {"hour": hours, "volume": volume, "log_return": log_return}


def by_hour(hours: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(N_ENVS, 24) sums of ``values`` (N_ENVS, N_ROUNDS) over the rounds of each hour."""
    out = np.zeros((hours.shape[0], HOURS_PER_DAY))
    for h in range(HOURS_PER_DAY):
        out[:, h] = np.where(hours == h, values, 0.0).sum(axis=1)
    return out


@pytest.fixture(scope="module")
def seasonal_run(episodes):
    rng = np.random.default_rng(4)
    profile = rng.uniform(0.0, 2.0, HOURS_PER_DAY)
    profile[[23, 3]] = 0.0  # two hours of the episode without flow
    params = episodes.make_params(hour_profile=profile, open_hour=OPEN_HOUR, hours_per_round=HOURS_PER_ROUND)
    lp, lt = random_actions(4)
    state0, final, path = episodes.run(14, params, lp, lt)
    steps, _ = settled_rounds(path)
    return state0, final, path, recorded(path, state0, steps)


def test_hour_accumulators_equal_the_recorded_path(seasonal_run):
    _, final, _, rec = seasonal_run
    expected_rounds = by_hour(rec["hour"], np.ones_like(rec["volume"]))
    assert set(np.flatnonzero(expected_rounds[0])) == {22, 23, *range(11)}  # wraps past midnight
    np.testing.assert_array_equal(final.hour_rounds, expected_rounds)
    np.testing.assert_allclose(final.hour_volume, by_hour(rec["hour"], rec["volume"]), rtol=1e-5)
    np.testing.assert_allclose(final.hour_sq_return, by_hour(rec["hour"], rec["log_return"] ** 2), rtol=1e-5)
    assert (final.hour_volume[:, 11:22] == 0).all() and (final.hour_sq_return[:, 11:22] == 0).all()
    # the accumulators add up to the episode totals
    np.testing.assert_allclose(final.hour_volume.sum(axis=1), final.lp_volume.sum(axis=1) + final.ecn_client_volume,
                               rtol=1e-5)
    np.testing.assert_array_equal(final.hour_rounds.sum(axis=1), N_ROUNDS)


def test_seasonal_metrics_equal_their_formulas(seasonal_run):
    """The module docstring of ``jaxmarket.otc.metrics``: realized_vol = sqrt(sum r^2 / T * rounds_per_year),
    volume_profile = volume by hour / volume, volatility_profile = sqrt(mean r^2 by hour * rounds_per_year)."""
    _, _, path, rec = seasonal_run
    metrics = {k: np.asarray(v)[:, -1] for k, v in path["metrics"].items()}  # the last step's: the episode's
    r2 = rec["log_return"] ** 2
    realized = np.sqrt(r2.sum(axis=1) / N_ROUNDS * ROUNDS_PER_YEAR)
    np.testing.assert_allclose(metrics["realized_vol"], realized, rtol=1e-5)
    volume = by_hour(rec["hour"], rec["volume"])
    np.testing.assert_allclose(metrics["volume_profile"], volume / volume.sum(axis=1, keepdims=True), rtol=1e-5,
                               atol=1e-7)
    rounds = by_hour(rec["hour"], np.ones_like(r2))
    vol_profile = np.sqrt(np.divide(by_hour(rec["hour"], r2), rounds, out=np.zeros_like(rounds), where=rounds > 0)
                          * ROUNDS_PER_YEAR)
    np.testing.assert_allclose(metrics["volatility_profile"], vol_profile, rtol=1e-5)
    assert (metrics["volatility_profile"][:, 11:22] == 0).all()  # hours without rounds
    np.testing.assert_allclose(metrics["volume_profile"].sum(axis=1), 1.0, rtol=1e-5)
    # GBM at 10% a year: 16 x 96 returns estimate it within a few percent
    assert abs(metrics["realized_vol"].mean() - 0.10) < 0.01


def test_episode_without_volume_has_a_zero_volume_profile(episodes):
    """No flow (all multipliers 0) and no RL trade: volume_profile is 0 everywhere (not NaN), flow_none 1."""
    lp, lt = random_actions(5, lt_trade=False)
    params = episodes.make_params(hour_profile=np.zeros(HOURS_PER_DAY))
    _, final, path = episodes.run(15, params, lp, lt)
    metrics = {k: np.asarray(v)[:, -1] for k, v in path["metrics"].items()}
    np.testing.assert_array_equal(final.hour_volume, 0.0)
    np.testing.assert_array_equal(metrics["volume_profile"], 0.0)
    np.testing.assert_array_equal(metrics["flow_none"], 1.0)
    assert (metrics["realized_vol"] > 0).all() and np.isfinite(metrics["volatility_profile"]).all()
    np.testing.assert_array_equal(final.hour_rounds, 4.0)  # 96 rounds of 15 minutes from 00:00: 4 an hour


# --- p_connect per LP ---------------------------------------------------------------------------------------

def test_p_connect_per_lp():
    """LP j streams to each client with probability p_connect[j]: 64 resets x 500 clients = 32,000 draws per LP,
    a standard deviation of at most 0.0017 on the fraction; tolerance 0.01 (about 6 sigma)."""
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=0, n_flow=500, p_connect=[0.1, 0.9])
    reset = jax.jit(jax.vmap(lambda k: env.reset_env(k, params)[1].connected))
    connected = np.asarray(reset(jax.random.split(jax.random.key(21), 64)))
    assert connected.shape == (64, 2, 500)
    fraction = connected.mean(axis=(0, 2))
    np.testing.assert_allclose(fraction, [0.1, 0.9], atol=0.01)
    # a scalar still applies to every LP
    env3, params3 = jm.make("jaxmarket/OTC-v0", n_lps=3, n_lts=0, n_flow=500, p_connect=0.3)
    reset3 = jax.jit(jax.vmap(lambda k: env3.reset_env(k, params3)[1].connected))
    fraction3 = np.asarray(reset3(jax.random.split(jax.random.key(22), 64))).mean(axis=(0, 2))
    np.testing.assert_allclose(fraction3, [0.3, 0.3, 0.3], atol=0.01)


@pytest.mark.parametrize(
    ("overrides", "field", "detail"),
    [
        ({"p_connect": [0.5, 0.5, 0.5]}, "p_connect", "(2,)"),
        ({"p_connect": [[0.5, 0.5]]}, "p_connect", "(1, 2)"),
        ({"p_connect": [0.5, 1.5]}, "p_connect", "1.5"),
        ({"p_connect": -0.1}, "p_connect", "-0.1"),
        ({"hour_profile": (1.0,) * 23}, "hour_profile", "(24,)"),
        ({"hour_profile": (1.0,) * 23 + (-0.5,)}, "hour_profile", "-0.5"),
        ({"hour_profile": (1.0,) * 23 + (math.inf,)}, "hour_profile", "inf"),
        ({"open_hour": 24.0}, "open_hour", "[0.0, 24)"),
        ({"open_hour": -0.5}, "open_hour", "-0.5"),
        ({"hours_per_round": 0.0}, "hours_per_round", "(0.0, inf]"),
    ],
)
def test_invalid_seasonality_and_connectivity_raise(overrides, field, detail):
    with pytest.raises(ValueError, match=field) as err:
        jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=1, n_flow=2, **overrides)
    assert detail in str(err.value)
