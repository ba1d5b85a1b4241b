"""The OTC dealer market (``jaxmarket.otc``): one round's settlement against the numpy reference in
``tests/reference_otc.py``, the ECN cost curve and quotes against their formulas, and the
accounting identities, venue choice, market shares, informed flow, hedging and impact.

Jitted functions are built once per configuration (module fixtures) and reused with different
``OTCParams`` (traced, so no recompiles).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmarket as jm
from jaxmarket.core.supertypes import Uniform
from jaxmarket.otc import ecn, market, quotes
from jaxmarket.otc.types import default_lp_supertype, default_lt_supertype
from tests import reference_otc as ref

# XLA's CPU backend optimisations triple the compile time of these small programs and buy nothing here
fast_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})

N_LPS, N_LTS, N_FLOW, N_TIERS = 3, 2, 6, 3
N_ENVS = 8
N_CLIENTS = N_LTS + N_FLOW
LT_ECN_BUY = 1 + 2 * N_LPS  # RL client code: buy on the ECN
STATE_ARRAYS = (
    "price", "price0", "s0", "round", "tier_eps", "skew", "hedge", "tier", "connected", "lp_inventory", "lp_wealth",
    "client_inventory", "client_wealth", "client_executed", "ecn_inventory", "ecn_wealth", "lp_types", "client_types", "lt_choice",
)


# --- jitted market rounds, one per configuration -----------------------------------------------------------

class Market:
    """``jm.make("jaxmarket/OTC-v0", ...)`` with a vmapped, jitted reset and round (quote, choose, settle)."""

    def __init__(self, n_lps: int, n_lts: int, n_flow: int) -> None:
        self.env, self.params = jm.make("jaxmarket/OTC-v0", n_lps=n_lps, n_lts=n_lts, n_flow=n_flow, n_tiers=N_TIERS)
        cfg = self.config = self.env.config

        def one_round(key, state, lp_action, lt_action, params):
            pre = market.choose(market.quote(state, lp_action, cfg, params), lt_action, cfg)
            post, lp_r, lt_r, info = market.settle(key, pre, cfg, params)
            return pre, post, lp_r, lt_r, info

        self._round = fast_jit(jax.vmap(one_round, in_axes=(0, 0, 0, 0, None)))
        self._reset = fast_jit(jax.vmap(lambda k, p: market.reset(k, cfg, p), in_axes=(0, None)))

    def make_params(self, lp_supertype=None, lt_supertype=None, **overrides):
        if lp_supertype is not None:
            overrides["lp_supertype"] = {**default_lp_supertype(), **lp_supertype}
        if lt_supertype is not None:
            overrides["lt_supertype"] = {**default_lt_supertype(), **lt_supertype}
        return self.env.make_params(**overrides)

    def run(self, seed: int, params, n_rounds: int, lp_fn, lt_fn) -> list[dict]:
        """``n_rounds`` rounds of ``N_ENVS`` markets; ``lp_fn(rng)`` -> (N_ENVS, n_lps, n_tiers + 2) and
        ``lt_fn(rng)`` -> (N_ENVS, n_lts) actions. Returns per round the numpy pre-state (after quote and
        choose), post-state, rewards, info, the actions and the round's keys."""
        rng = np.random.default_rng(seed)
        key = jax.random.key(seed)
        key, k_reset = jax.random.split(key)
        state = self.reset(jax.random.split(k_reset, N_ENVS), params)
        records = []
        for _ in range(n_rounds):
            key, k_round = jax.random.split(key)
            keys = jax.random.split(k_round, N_ENVS)
            lp = np.asarray(lp_fn(rng), np.float32)
            lt = np.asarray(lt_fn(rng), np.int32).reshape(N_ENVS, self.config.n_lts)
            pre, post, lp_r, lt_r, info = self._round(keys, state, lp, lt, params)
            records.append({
                **jax.device_get({"pre": pre, "post": post, "lp_r": lp_r, "lt_r": lt_r, "info": info}),
                "lp_action": lp, "lt_action": lt, "keys": keys, "pre_jax": pre,
            })
            state = post
        return records

    def reset(self, keys, params):
        """``market.reset`` (what ``env.reset_env`` does, less the observations) for each key."""
        return self._reset(keys, params)

    def settle_again(self, keys, pre_jax, params):
        """Settle the same pre-states with the same keys under other params (quoting and choosing the
        pre-state's own quotes and choices again, a no-op)."""
        lp = np.concatenate(
            [np.asarray(pre_jax.tier_eps), np.asarray(pre_jax.skew)[..., None], np.asarray(pre_jax.hedge)[..., None]],
            axis=-1,
        )
        return jax.device_get(self._round(jax.random.clone(keys), pre_jax, lp, np.asarray(pre_jax.lt_choice), params))


@pytest.fixture(scope="module")
def mk() -> Market:
    return Market(N_LPS, N_LTS, N_FLOW)


@pytest.fixture(scope="module")
def mk_flow_only() -> Market:
    return Market(N_LPS, 0, N_FLOW)


# --- helpers --------------------------------------------------------------------------------------------

def env_state(state, e: int) -> dict:
    """Env ``e``'s state arrays as float64 (ints and bools kept) numpy."""
    out = {}
    for name in STATE_ARRAYS:
        value = np.asarray(getattr(state, name))[e]
        out[name] = value.astype(np.float64) if value.dtype.kind == "f" else value
    return out


def curve_params(params) -> dict:
    return {
        "ecn_depth": float(params.ecn_depth), "ecn_lambda": float(np.float32(params.ecn_lambda)),
        "max_fill": float(np.float32(params.max_fill)), "n_rounds": int(params.n_rounds),
    }


def assert_close(got, want, name: str, scale: float, rtol: float = 1e-4) -> None:
    """|got - want| <= rtol |want| + 1e-5 * scale (scale: the magnitude of the quantity's terms)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-5 * scale, err_msg=name)


def lp_random(params, eps_high: float | None = None, hedge: float | None = None, skew_max: float | None = None):
    """Valid random LP actions (N_ENVS, N_LPS, N_TIERS + 2)."""
    eps_high = float(params.eps_max) if eps_high is None else eps_high
    skew_max = float(params.skew_max) if skew_max is None else skew_max

    def fn(rng):
        eps = rng.uniform(float(params.eps_min), eps_high, (N_ENVS, N_LPS, N_TIERS))
        skew = rng.uniform(-skew_max, skew_max, (N_ENVS, N_LPS, 1))
        h = rng.uniform(0.0, 1.0, (N_ENVS, N_LPS, 1)) if hedge is None else np.full((N_ENVS, N_LPS, 1), hedge)
        return np.concatenate([eps, skew, h], axis=-1)

    return fn


def lt_random(config):
    return lambda rng: rng.integers(0, config.n_lt_actions, (N_ENVS, config.n_lts))


def lt_const(config, code: int):
    return lambda rng: np.full((N_ENVS, config.n_lts), code)


def flow_trades(rec, n_lts: int):
    """(env, client) index pairs of the flow clients that traded this round."""
    side = rec["info"]["side"]
    es, cs = np.nonzero(side[:, n_lts:] != 0)
    return es, cs + n_lts


# --- 1 & 2: one round against the numpy reference ---------------------------------------------------------

DIFFERENTIAL_CASES = [
    pytest.param(0, {}, id="defaults"),
    pytest.param(
        1,
        {"ecn_lambda": 2.0, "impact": 1e-3, "ecn_depth": 8.0, "lt_supertype": {"size_scale": Uniform(0.5, 6.0)}},
        id="lambda2-impact-capped",
    ),
    pytest.param(
        2,
        {"ecn_lambda": 3.0, "annual_vol": 0.4, "p_connect": 0.5, "skew_max": 1.0,
         "lp_supertype": {"gamma": Uniform(0.5, 3.0), "omega": Uniform(0.0, 1.0)}},
        id="lambda3-volatile",
    ),
]


@pytest.mark.parametrize(("seed", "overrides"), DIFFERENTIAL_CASES)
def test_settle_matches_reference(mk: Market, seed: int, overrides: dict) -> None:
    params = mk.make_params(**overrides)
    cp = curve_params(params)
    records = mk.run(seed, params, 6, lp_random(params, eps_high=1.5), lt_random(mk.config))
    max_size = cp["max_fill"] * cp["ecn_depth"]
    n_lp_trades = n_ecn_trades = n_capped = 0
    for rec in records:
        pre, post, info = rec["pre"], rec["post"], rec["info"]
        for e in range(N_ENVS):
            s = env_state(pre, e)
            # the RL clients' orders follow from their action codes
            venue, side, size = ref.decode_lt_codes(
                rec["lt_action"][e], s["connected"][:, :N_LTS],
                s["client_types"][:N_LTS, ref.LT_FIELDS.index("size_scale")], N_LPS, max_size,
            )
            np.testing.assert_array_equal(info["venue"][e, :N_LTS], venue)
            np.testing.assert_array_equal(info["side"][e, :N_LTS], side)
            assert_close(info["size"][e, :N_LTS], size, "rl size", 1.0, rtol=1e-5)
            # flow clients: valid orders at a connected (or the ECN) venue
            f_side, f_size, f_venue = (info[k][e].astype(np.float64) for k in ("side", "size", "venue"))
            trading = f_side != 0
            assert np.all((f_size > 0) == trading) and np.all(f_size <= max_size * (1 + 1e-6))
            assert np.all(f_venue[~trading] == N_LPS + 1) and np.all(f_venue[trading] <= N_LPS)
            lp_venue = f_venue[trading] < N_LPS
            idx = np.nonzero(trading)[0][lp_venue]
            assert np.all(s["connected"][f_venue[idx].astype(int), idx]), "a client traded with an unconnected LP"

            want = ref.settle_round(
                s, info["side"][e], info["size"][e], info["venue"][e], float(post.price[e]), cp, N_LTS
            )
            gross = s["price"] * (np.abs(info["size"][e]).sum() + np.abs(s["lp_inventory"]).sum() + 1.0)
            money = gross * 1e-4  # one bp of the gross notional
            assert_close(info["paid"][e], want.paid, "paid", money)
            assert_close(info["lp_spread"][e], want.lp_spread, "lp_spread", money)
            assert_close(info["hedge"][e], want.hedge, "hedge qty", np.abs(want.hedge).max() + 1.0)
            assert_close(info["lp_hedge_cost"][e], want.lp_hedge_cost, "hedge cost", money)
            assert_close(info["lp_inventory_pnl"][e], want.lp_inventory_pnl, "lp inventory pnl", money)
            assert_close(info["share"][e], want.share, "share", 1.0)
            inv_scale = np.abs(want.lp_inventory).sum() + np.abs(want.client_inventory).sum() + 1.0
            assert_close(post.lp_inventory[e], want.lp_inventory, "lp inventory", inv_scale)
            assert_close(post.client_inventory[e], want.client_inventory, "client inventory", inv_scale)
            assert_close(post.ecn_inventory[e], want.ecn_inventory, "ecn inventory", inv_scale)
            assert_close(post.client_executed[e], want.client_executed, "client executed", inv_scale)
            w_scale = money + np.abs(s["lp_wealth"]).sum() + np.abs(s["client_wealth"]).sum() + abs(s["ecn_wealth"])
            assert_close(post.lp_wealth[e], want.lp_wealth, "lp wealth", w_scale)
            assert_close(post.client_wealth[e], want.client_wealth, "client wealth", w_scale)
            assert_close(post.ecn_wealth[e], want.ecn_wealth, "ecn wealth", w_scale)
            assert_close(post.lp_last_buy[e], want.lp_buys, "lp last buy", inv_scale)
            assert_close(post.lp_last_sell[e], want.lp_sells, "lp last sell", inv_scale)
            assert_close(post.lp_last_share[e], want.share, "lp last share", 1.0)
            assert_close(post.lp_volume[e] - pre.lp_volume[e], want.lp_volume, "lp volume", inv_scale)
            ecn_volume = post.ecn_client_volume[e] - pre.ecn_client_volume[e]
            assert_close(ecn_volume, want.ecn_client_volume, "ecn client volume", inv_scale)
            hedge_volume = post.lp_hedge_volume[e] - pre.lp_hedge_volume[e]
            assert_close(hedge_volume, np.abs(want.hedge), "hedge volume", inv_scale)
            assert_close(post.lp_spread_pnl[e] - pre.lp_spread_pnl[e], want.lp_spread, "spread pnl total", money)
            assert_close(post.lp_hedge_cost[e] - pre.lp_hedge_cost[e], want.lp_hedge_cost, "hedge cost total", money)
            mu = s["price0"] * ref.BASIS_POINT
            assert_close(rec["lp_r"][e], want.lp_reward, "lp reward", money / mu + 1.0)
            assert_close(rec["lt_r"][e], want.lt_reward, "lt reward", money / mu + inv_scale)
            n_traded = int((info["side"][e] != 0).sum())
            assert post.n_client_trades[e] - pre.n_client_trades[e] == n_traded
            assert post.n_no_trade[e] - pre.n_no_trade[e] == N_CLIENTS - n_traded
            assert post.round[e] == pre.round[e] + 1
            n_lp_trades += int(((info["venue"][e] < N_LPS) & trading).sum())
            n_ecn_trades += int((info["venue"][e] == N_LPS).sum())
            n_capped += int((np.abs(want.hedge) >= cp["max_fill"] * cp["ecn_depth"] * (1 - 1e-6)).sum())
    # the rounds exercised both kinds of venue (and, in the small-depth case, the hedge cap)
    assert n_lp_trades > 10 and n_ecn_trades > 10
    if overrides.get("ecn_depth") == 8.0:
        assert n_capped > 0


# --- 2: quotes and the curve against their formulas (hypothesis) -------------------------------------------

@dataclasses.dataclass(frozen=True)
class Formulas:
    """Jitted quote and curve functions, built once for the module by the ``formulas`` fixture."""

    client_costs: Callable
    quote_prices: Callable
    curve_ratio: Callable


@pytest.fixture(scope="module")
def formulas() -> Formulas:
    return Formulas(fast_jit(quotes.client_costs), fast_jit(quotes.quote_prices), fast_jit(ecn.curve_ratio))


QN_LPS, QN_TIERS, QN_CLIENTS = 3, 3, 5


def _vec(n: int, lo: float, hi: float):
    return st.lists(st.floats(lo, hi, allow_nan=False), min_size=n, max_size=n)


@settings(max_examples=25, deadline=None)
@given(
    eps=_vec(QN_LPS * QN_TIERS, -0.99, 5.0),
    skew=_vec(QN_LPS, -2.0, 2.0),
    tier=st.lists(st.integers(0, QN_TIERS - 1), min_size=QN_CLIENTS, max_size=QN_CLIENTS),
    side=st.lists(st.sampled_from([-1.0, 1.0]), min_size=QN_CLIENTS, max_size=QN_CLIENTS),
    s_v=_vec(QN_CLIENTS, 1e-6, 5e-2),
    s_0=st.floats(1e-6, 1e-3),
    price=st.floats(0.5, 2.0),
)
def test_quotes_match_formula(formulas: Formulas, eps, skew, tier, side, s_v, s_0, price) -> None:
    tier_eps = np.asarray(eps, np.float32).reshape(QN_LPS, QN_TIERS)
    skew, tier = np.asarray(skew, np.float32), np.asarray(tier, np.int32)
    side, s_v = np.asarray(side, np.float32), np.asarray(s_v, np.float32)
    s_0, price = np.float32(s_0), np.float32(price)
    want_cost = ref.client_costs(tier_eps, skew, tier, side, s_v, float(s_0))
    got_cost = np.asarray(formulas.client_costs(tier_eps, skew, tier, side, s_v, s_0))
    assert got_cost.shape == (QN_LPS, QN_CLIENTS)
    scale = float(((1.0 + np.abs(tier_eps)).max() * s_v.max() + np.abs(skew).max() * s_0))  # the terms' size
    np.testing.assert_allclose(got_cost, want_cost, rtol=1e-5, atol=1e-6 * scale)
    want_bid, want_ask = ref.quote_prices(float(price), tier_eps, skew, tier, s_v, float(s_0))
    got_bid, got_ask = (np.asarray(x) for x in formulas.quote_prices(price, tier_eps, skew, tier, s_v, s_0))
    ulp = 4 * float(np.spacing(np.float32(np.abs(want_ask).max())))  # float32 prices near P
    np.testing.assert_allclose(got_bid, want_bid, rtol=0, atol=ulp)
    np.testing.assert_allclose(got_ask, want_ask, rtol=0, atol=ulp)
    # a client pays the quote it hits: cost = ask / P - 1 on a buy, 1 - bid / P on a sell
    hit = np.where(side[None, :] > 0, got_ask / float(price) - 1.0, 1.0 - got_bid / float(price))
    np.testing.assert_allclose(got_cost, hit, rtol=0, atol=ulp / float(price) + 1e-6 * scale)


def _check_curve(curve_ratio: Callable, u: float, lam: float) -> None:
    u32, lam32 = np.float32(u), np.float32(lam)
    got = float(curve_ratio(u32, lam32))
    want = float(ref.curve_ratio(float(u32), float(lam32)))
    if want > ref.F32_MAX:
        assert got == math.inf or got > 1e38, (u, lam, got, want)
    elif want < 1e35:  # well inside float32 (intermediate terms can overflow just below F32_MAX)
        assert math.isfinite(got), (u, lam, got, want)
        assert got == pytest.approx(want, rel=3e-5), (u, lam, got, want)


TINY_U = [0.0, 1e-45, 1e-40, 1e-38, 1e-30, 1e-12, 1e-7, 5e-5, 9.99e-5, 1e-4, 1.001e-4]


@settings(max_examples=60, deadline=None)
@given(
    u=st.one_of(st.floats(0.0, 0.99), st.floats(0.0, 2e-4), st.sampled_from(TINY_U + [0.99])),
    lam=st.one_of(st.just(2.0), st.floats(1.01, 4.0), st.sampled_from([1.01, 1.6, 2.0, 4.0])),
)
def test_curve_ratio_matches_reference(formulas: Formulas, u: float, lam: float) -> None:
    _check_curve(formulas.curve_ratio, u, lam)


def test_curve_ratio_grid(formulas: Formulas) -> None:
    """Every (u, lambda) on a grid, lambda = 2 exactly included; tiny u give a finite ~1; the ratio
    increases with u."""
    us = np.array(TINY_U + list(np.linspace(0.0, 0.99, 34)), np.float32)
    for lam in (1.05, 1.3, 1.6, 1.9, 1.999, 2.0, 2.001, 2.5, 3.0, 4.0):
        got = np.asarray(formulas.curve_ratio(us, np.float32(lam)), np.float64)
        want = ref.curve_ratio(us.astype(np.float64), float(np.float32(lam)))
        np.testing.assert_allclose(got, want, rtol=3e-5, err_msg=f"lambda = {lam}")
        tiny = us <= 1e-7
        assert np.all(np.isfinite(got[tiny])) and np.all(np.abs(got[tiny] - 1.0) < 1e-5)
        order = np.argsort(us, kind="stable")
        assert np.all(np.diff(got[order]) >= -1e-6 * got[order][1:]), f"not increasing at lambda = {lam}"
    assert float(formulas.curve_ratio(np.float32(1e-40), np.float32(1.6))) == pytest.approx(1.0, abs=1e-6)
    assert float(formulas.curve_ratio(np.float32(1e-40), np.float32(2.0))) == pytest.approx(1.0, abs=1e-6)


def test_curve_ratio_small_u_near_lambda_one(formulas: Formulas) -> None:
    """ecn.py documents curve_ratio as "accurate and finite for every u". Below SMALL_U it uses
    1 + (1 - a) u / 2 (a = 1/omega = (lam - 2) / (lam - 1)), whose error ~ (1 - a)(2 - a) u^2 / 6 is
    not small when |a| u is not (lambda near 1, still a valid ecn_lambda > 1): e.g. lambda = 1.0001,
    u = 5e-5 gives 1.25 against 1.2974. The expansion needs |a| u << 1, not just u < SMALL_U."""
    bad = []
    for lam in (1.001, 1.0001):
        for u in (2e-5, 5e-5, 9e-5):
            got = float(formulas.curve_ratio(np.float32(u), np.float32(lam)))
            want = float(ref.curve_ratio(float(np.float32(u)), float(np.float32(lam))))
            if not abs(got - want) <= 3e-5 * want:
                bad.append(f"lambda={lam} u={u}: got {got:.6f}, want {want:.6f}")
    assert not bad, "; ".join(bad)


def test_half_spread_caps_size() -> None:
    s0, depth, lam, fill = 3e-4, 10.0, 1.6, 0.9
    v = np.array([0.0, 1.0, 5.0, 9.0, 9.5, 50.0], np.float32)
    got = np.asarray(ecn.half_spread(v, np.float32(s0), np.float32(depth), np.float32(lam), np.float32(fill)))
    np.testing.assert_allclose(got, ref.s_ref(v.astype(np.float64), s0, depth, lam, fill), rtol=3e-5)
    assert got[0] == pytest.approx(s0 / 2, rel=1e-6) and got[-1] == got[-2] == got[-3]


# --- 3: curve check values ----------------------------------------------------------------------------------

CHECK_VALUES = {0.1: 1.0915, 0.25: 1.2685, 0.5: 1.7622, 0.75: 3.0397, 0.9: 6.0693}


def test_curve_check_values(formulas: Formulas) -> None:
    us = np.array(list(CHECK_VALUES), np.float32)
    expected = np.array(list(CHECK_VALUES.values()))
    np.testing.assert_allclose(ref.curve_ratio(us.astype(np.float64), 1.6), expected, rtol=0, atol=5e-5)
    tol = 5e-5 + 2e-6 * expected  # the 4-decimal rounding and float32
    got = np.asarray(formulas.curve_ratio(us, np.float32(1.6)), np.float64)
    assert np.all(np.abs(got - expected) <= tol), got
    # the same through half_spread with a depth and spread: S_ref(v) / S_ref(0)
    s0, depth = np.float32(1.5e-4), np.float32(50.0)
    half = np.asarray(ecn.half_spread(us * depth, s0, depth, np.float32(1.6), np.float32(0.99)), np.float64)
    assert np.all(np.abs(half / (0.5 * float(s0)) - expected) <= tol), half / (0.5 * float(s0))


# --- 4: accounting over whole episodes (jitted scan of env.step_env) ----------------------------------------

EPISODE_ROUNDS, EPISODE_ENVS = 24, 4


@pytest.fixture(scope="module")
def episode(mk: Market):
    env = mk.env
    params = mk.make_params(n_rounds=EPISODE_ROUNDS, ecn_depth=20.0, impact=2e-4)
    space = env.action_space("lp", params)
    n_actions = mk.config.n_lt_actions

    def one_env(state, key):
        def step(state, key):
            k_lp, k_lt, k_step = jax.random.split(key, 3)
            lp = jax.random.uniform(k_lp, (N_LPS,) + space.shape, minval=space.low, maxval=space.high)
            lt = jax.random.randint(k_lt, (N_LTS,), 0, n_actions)
            _, state, rewards, terminated, info = env.step_env(k_step, state, {"lp": lp, "lt": lt}, params)
            return state, (state, terminated["lp"][0], info["settled"])

        n_steps = env.episode_length(params)
        final, (states, done, settled) = jax.lax.scan(step, state, jax.random.split(key, n_steps))
        return final, states, done, settled, env.episode_metrics(final, params)

    k_reset, k_run = jax.random.split(jax.random.key(7))
    start = mk.reset(jax.random.split(k_reset, N_ENVS), params)  # N_ENVS fresh episodes (reuses the compiled reset)
    start = jax.tree.map(lambda x: x[:EPISODE_ENVS], start)
    out = fast_jit(jax.vmap(one_env))(start, jax.random.split(k_run, EPISODE_ENVS))
    return jax.device_get(out), params


def test_episode_accounting(episode) -> None:
    (final, states, done, settled, metrics), params = episode
    n_steps = EPISODE_ROUNDS * 2
    assert done.shape == (EPISODE_ENVS, n_steps)
    assert np.all(done[:, -1]) and not np.any(done[:, :-1])
    np.testing.assert_array_equal(settled, np.tile([False, True], (EPISODE_ENVS, EPISODE_ROUNDS)))
    assert np.all(final.round == EPISODE_ROUNDS)
    assert np.all(final.n_client_trades + final.n_no_trade == EPISODE_ROUNDS * N_CLIENTS)
    rounds = jax.tree.map(lambda x: x[:, 1::2], states)  # the state after each round's settlement
    total_traded = 0.0
    for e in range(EPISODE_ENVS):
        prev = {k: 0.0 for k in ("lp_volume", "ecn_client_volume", "client_executed", "lp_hedge_volume")}
        for t in range(EPISODE_ROUNDS):
            get = lambda name: np.asarray(getattr(rounds, name)[e, t], np.float64)  # noqa: E731
            lp_round = get("lp_last_buy") + get("lp_last_sell")
            ecn_round = get("ecn_client_volume") - prev["ecn_client_volume"]
            traded = np.abs(get("client_executed") - prev["client_executed"])  # each client trades one side at most
            gross = traded.sum() + 1.0
            # every client trade is booked once on the dealer side (an LP or the ECN)...
            assert lp_round.sum() + ecn_round == pytest.approx(traded.sum(), rel=1e-5, abs=1e-5 * gross), (e, t)
            np.testing.assert_allclose(get("lp_volume") - prev["lp_volume"], lp_round, rtol=1e-5, atol=1e-5 * gross)
            assert ecn_round >= -1e-5 * gross and np.all(lp_round >= 0)
            total_traded += traded.sum()
            # ... and inventories and wealths net out over LPs, clients and the ECN
            volume = get("lp_volume").sum() + get("ecn_client_volume") + get("lp_hedge_volume").sum()
            inv = get("lp_inventory").sum() + get("client_inventory").sum() + get("ecn_inventory")
            assert abs(inv) <= 1e-5 * (volume + 1.0), (e, t, inv, volume)
            wealths = np.concatenate([get("lp_wealth"), get("client_wealth"), [get("ecn_wealth")]])
            mu = float(rounds.price0[e, t]) * ref.BASIS_POINT
            assert abs(wealths.sum()) <= 1e-5 * np.abs(wealths).sum() + 1e-3 * mu, (e, t, wealths.sum())
            # each LP's wealth is its spread PnL + inventory PnL - hedge cost
            spread, inv_pnl, hedge = get("lp_spread_pnl"), get("lp_inventory_pnl"), get("lp_hedge_cost")
            parts = np.abs(spread) + np.abs(inv_pnl) + np.abs(hedge)
            atol = 1e-5 * parts.max() + 1e-3 * mu
            np.testing.assert_allclose(get("lp_wealth"), spread + inv_pnl - hedge, rtol=0, atol=atol)
            assert np.all(hedge >= 0)
            prev = {k: get(k) for k in prev}
    assert total_traded > 100  # the episodes traded

    m = {k: np.asarray(v, np.float64) for k, v in metrics.items()}
    total = m["spread_pnl"] + m["inventory_pnl"] - m["hedge_cost"]
    np.testing.assert_allclose(total, m["lp_pnl"], rtol=0, atol=1e-5 * np.abs(m["inventory_pnl"]).max() + 1e-3)
    np.testing.assert_allclose(m["market_share"].sum(axis=1), m["flow_lp"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m["flow_lp"] + m["flow_ecn"], 1.0, rtol=1e-5)
    mu = final.price0 * ref.BASIS_POINT
    np.testing.assert_allclose(m["lp_pnl"], final.lp_wealth / mu[:, None], rtol=1e-5)
    np.testing.assert_allclose(m["flow_none"], final.n_no_trade / (EPISODE_ROUNDS * N_CLIENTS), rtol=1e-6)


# --- 5: flow clients take the cheapest connected venue -------------------------------------------------------

def test_flow_clients_take_cheapest_venue(mk_flow_only: Market) -> None:
    m = mk_flow_only
    params = m.make_params(p_connect=0.6)
    cp = curve_params(params)
    records = m.run(11, params, 8, lp_random(params, eps_high=1.0, skew_max=1.0), lt_const(m.config, 0))
    chosen = np.zeros(N_LPS + 1, int)
    for rec in records:
        pre, info = rec["pre"], rec["info"]
        for e, i in zip(*flow_trades(rec, 0)):
            s = env_state(pre, e)
            side, size = info["side"][e], info["size"][e]
            costs = ref.venue_costs(s, side, size, cp)[:, i]
            available = np.append(s["connected"][:, i], True)
            best = costs[available].min()
            v = int(info["venue"][e, i])
            assert available[v], (e, i, v)
            tol = 1e-5 * np.abs(costs).max()
            assert costs[v] <= best + tol, (e, i, v, costs, available)
            chosen[v] += 1
    # both LPs and the ECN won trades, so the choice was not trivial
    assert chosen[:N_LPS].sum() > 20 and chosen[N_LPS] > 20, chosen


# --- 6: identical LPs split the flow evenly ------------------------------------------------------------------

def test_identical_lps_share_evenly(mk: Market) -> None:
    constant = {"gamma": 0.5, "omega": 0.8, "target_share": 0.3, "share_weight": 2.0, "tier_aggressiveness": 0.2}
    params = mk.make_params(
        p_connect=1.0, lp_supertype={k: Uniform(v, v) for k, v in constant.items()},
        lt_supertype={"p_trade": Uniform(1.0, 1.0)},
    )

    def same_action(rng):  # one random action per env, the same for every LP
        a = lp_random(params, eps_high=0.5, skew_max=1.0)(rng)[:, :1]
        return np.broadcast_to(a, (N_ENVS, N_LPS, N_TIERS + 2))

    records = mk.run(21, params, 30, same_action, lt_const(mk.config, 0))
    sizes, venues = [], []
    for rec in records:
        pre, info = rec["pre"], rec["info"]
        assert np.all(pre.connected)
        assert np.all(pre.lp_types == pre.lp_types[:, :1])
        es, cs = flow_trades(rec, N_LTS)
        at_lp = info["venue"][es, cs] < N_LPS
        sizes.append(info["size"][es, cs][at_lp].astype(np.float64))
        venues.append(info["venue"][es, cs][at_lp])
    sizes, venues = np.concatenate(sizes), np.concatenate(venues)
    n = len(sizes)
    assert n > 500, n
    p = 1.0 / N_LPS
    # share of LP volume: sum_i s_i 1[v_i = j] / sum_i s_i with v_i uniform on the LPs
    std_err = math.sqrt(p * (1 - p) * np.sum(sizes**2)) / sizes.sum()
    for j in range(N_LPS):
        share = sizes[venues == j].sum() / sizes.sum()
        assert abs(share - p) < 4 * std_err, (j, share, std_err)
        count_share = np.mean(venues == j)
        assert abs(count_share - p) < 4 * math.sqrt(p * (1 - p) / n), (j, count_share)


# --- 7: informed flow -------------------------------------------------------------------------------------

def test_informed_clients_trade_with_the_move(mk: Market) -> None:
    params = mk.make_params(lt_supertype={"informed": Uniform(1.0, 1.0), "p_trade": Uniform(1.0, 1.0)})
    records = mk.run(31, params, 6, lp_random(params, eps_high=1.0), lt_random(mk.config))
    ups = downs = 0
    for rec in records:
        move = np.sign(rec["post"].price.astype(np.float64) - rec["pre"].price)
        es, cs = flow_trades(rec, N_LTS)
        assert len(es) > 0
        np.testing.assert_array_equal(rec["info"]["side"][es, cs], move[es])
        ups, downs = ups + int((move > 0).sum()), downs + int((move < 0).sum())
    assert ups > 5 and downs > 5


@pytest.mark.parametrize("p_buy", [1.0, 0.0])
def test_uninformed_clients_follow_p_buy(mk: Market, p_buy: float) -> None:
    params = mk.make_params(p_buy=p_buy, lt_supertype={"informed": Uniform(0.0, 0.0)})
    records = mk.run(41, params, 4, lp_random(params, eps_high=1.0), lt_random(mk.config))
    n = 0
    for rec in records:
        es, cs = flow_trades(rec, N_LTS)
        n += len(es)
        assert np.all(rec["info"]["side"][es, cs] == (1.0 if p_buy == 1.0 else -1.0))
    assert n > 20


def test_informed_clients_buy_on_unchanged_price(mk: Market) -> None:
    """clients.py: an informed client trades with the next move, "buying on an unchanged price"."""
    params = mk.make_params(annual_vol=0.0, lt_supertype={"informed": Uniform(1.0, 1.0), "p_trade": Uniform(1.0, 1.0)})
    records = mk.run(51, params, 2, lp_random(params, eps_high=1.0), lt_const(mk.config, 0))
    for rec in records:
        assert np.all(rec["post"].price == rec["pre"].price)
        es, cs = flow_trades(rec, N_LTS)
        assert len(es) > 0
        np.testing.assert_array_equal(rec["info"]["side"][es, cs], 1.0, err_msg="informed, unchanged price")


# --- 8: hedging -------------------------------------------------------------------------------------------

def _net_client_buys(info, e: int) -> np.ndarray:
    signed = info["side"][e].astype(np.float64) * info["size"][e]
    return np.array([signed[info["venue"][e] == j].sum() for j in range(N_LPS)])


@pytest.mark.parametrize("fraction", [1.0, 0.0])
def test_hedge_fraction(mk: Market, fraction: float) -> None:
    params = mk.make_params(ecn_depth=5.0, p_connect=1.0, lt_supertype={"p_trade": Uniform(0.5, 1.0)})
    cp = curve_params(params)
    cap = cp["max_fill"] * cp["ecn_depth"]
    records = mk.run(61, params, 6, lp_random(params, eps_high=0.0, hedge=fraction), lt_random(mk.config))
    under = over = 0
    for rec in records:
        pre, post, info = rec["pre"], rec["post"], rec["info"]
        for e in range(N_ENVS):
            z = pre.lp_inventory[e].astype(np.float64) - _net_client_buys(info, e)  # before hedging
            got = post.lp_inventory[e].astype(np.float64)
            q = info["hedge"][e].astype(np.float64)
            scale = 1e-5 * (np.abs(z).max() + 1.0)
            if fraction == 1.0:
                small = np.abs(z) <= cap * (1 - 1e-6)
                big = np.abs(z) >= cap * (1 + 1e-6)
                np.testing.assert_allclose(got[small], 0.0, atol=scale)
                np.testing.assert_allclose(q[small], -z[small], rtol=1e-5, atol=scale)
                np.testing.assert_allclose(q[big], -np.sign(z[big]) * cap, rtol=1e-5)
                np.testing.assert_allclose(got[big], z[big] - np.sign(z[big]) * cap, rtol=1e-5, atol=scale)
                under, over = under + int((small & (z != 0)).sum()), over + int(big.sum())
            else:
                np.testing.assert_allclose(got, z, rtol=1e-5, atol=scale)
                assert np.all(q == 0) and np.all(info["lp_hedge_cost"][e] == 0)
                under += int((z != 0).sum())
            s = env_state(pre, e)
            s_q = ref.s_ref(np.abs(q), s["s0"], cp["ecn_depth"], cp["ecn_lambda"], cp["max_fill"])
            want_cost = np.abs(q) * s["price"] * s_q
            np.testing.assert_allclose(info["lp_hedge_cost"][e], want_cost, rtol=3e-5, atol=1e-12)
    assert under > 20
    if fraction == 1.0:
        assert over > 0  # the cap was hit too


# --- 9: permanent impact --------------------------------------------------------------------------------------

def test_impact_of_ecn_buys(mk: Market) -> None:
    impact = 1e-3
    common = {"p_buy": 1.0, "lt_supertype": {"informed": Uniform(0.0, 0.0), "p_trade": Uniform(0.5, 1.0)}}
    with_impact, without = mk.make_params(impact=impact, **common), mk.make_params(impact=0.0, **common)
    # LPs quote their widest spread (the ECN is always cheaper) and do not hedge; RL clients buy on the ECN
    widest = lambda rng: np.tile(  # noqa: E731
        np.array([float(with_impact.eps_max)] * N_TIERS + [0.0, 0.0], np.float32), (N_ENVS, N_LPS, 1)
    )
    records = mk.run(71, with_impact, 4, widest, lt_const(mk.config, LT_ECN_BUY))
    for rec in records:
        info = rec["info"]
        trading = info["side"] != 0
        assert np.all(info["venue"][trading] == N_LPS) and np.all(info["side"][trading] == 1.0)
        assert np.all(info["hedge"] == 0)
        net = info["size"].astype(np.float64).sum(axis=1)
        assert np.all(net > 0)
        _, base, _, _, base_info = mk.settle_again(rec["keys"], rec["pre_jax"], without)
        np.testing.assert_array_equal(base_info["size"], info["size"])  # the same orders
        log_ratio = np.log(rec["post"].price.astype(np.float64) / base.price.astype(np.float64))
        np.testing.assert_allclose(log_ratio, impact * net, rtol=1e-3, atol=3e-7)
        assert np.all(rec["post"].price > base.price)
