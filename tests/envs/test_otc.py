"""The OTC dealer market envs: jaxmarket/OTC-v0 (multi-agent) and jaxmarket/OTC-LP-v0 (one learning LP)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import chex
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.core.evaluate import rollout_episode
from jaxmarket.core.supertypes import Categorical, ClippedNormal, Uniform
from jaxmarket.otc import dealer, market
from jaxmarket.otc.observations import LP_FEATURES, LT_FEATURES, LT_QUOTE_FEATURES, lp_index, lt_index
from jaxmarket.otc.types import LP_TYPE_FIELDS, LT_TYPE_FIELDS, default_lp_supertype, default_lt_supertype

N_LPS, N_LTS, N_FLOW, N_TIERS, N_ROUNDS = 3, 4, 6, 3, 4
BP = 1e-4


def fresh_key(seed: int = 0) -> jax.Array:
    """A new typed key: the same seed gives the same draws, without reusing one key object."""
    return jax.random.key(seed)


@dataclasses.dataclass(frozen=True)
class Harness:
    """The OTC-v0 env of these tests with its jitted functions, built once per module by ``otc``."""

    env: Any
    params: Any
    config: Any
    reset: Callable  # jitted env.reset: every reset here uses params of one structure, so it compiles once
    step: Callable  # jitted env.step
    step_env: Callable  # jitted env.step_env
    settle: Callable  # jitted market.settle (config static)
    policy_step: Callable  # one jitted heuristic step; supertype parameters live in params, so it never retraces


@pytest.fixture(scope="module")
def otc() -> Harness:
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=N_LPS, n_lts=N_LTS, n_flow=N_FLOW, n_rounds=N_ROUNDS)
    heuristic = dealer.heuristic_policy(env)

    def _otc_test_reset(key, params):
        return env.reset(key, params)

    def _policy_step(key, obs, state, params):
        k_act, k_env = jax.random.split(key)
        obs, state, rewards, _, _ = env.step_env(k_env, state, heuristic(k_act, obs, state, params), params)
        return obs, state, rewards

    return Harness(
        env=env,
        params=params,
        config=env.config,
        reset=jax.jit(chex.assert_max_traces(_otc_test_reset, n=1)),
        step=jax.jit(env.step),
        step_env=jax.jit(env.step_env),
        settle=jax.jit(market.settle, static_argnums=(2,)),
        policy_step=jax.jit(chex.assert_max_traces(_policy_step, n=1)),
    )


def heuristic_episode(otc: Harness, key: jax.Array, params, n_steps: int):
    """The final state (no auto-reset) and summed rewards of ``n_steps`` heuristic steps."""
    reset_key, key = jax.random.split(key)
    obs, state = otc.reset(reset_key, params)
    total = {f: np.zeros(n) for f, n in otc.env.num_agents.items()}
    for k in jax.random.split(key, n_steps):
        obs, state, rewards = otc.policy_step(k, obs, state, params)
        for f in total:
            total[f] += np.asarray(rewards[f])
    return state, total


# connectivity of the LPs (rows) to the RL clients (columns 0..3) and the flow clients
CONNECTED = np.array(
    [
        [1, 1, 0, 0] + [1] * N_FLOW,
        [1, 0, 0, 1] + [1, 0] * (N_FLOW // 2),
        [1, 0, 0, 1] + [0, 1] * (N_FLOW // 2),
    ],
    bool,
)
TIERS = np.array([0, 1, 2, 1] + [0, 1, 2] * (N_FLOW // 3), np.int32)
# a valid LP action per LP: tier multipliers, skew, hedge fraction
LP_ACTION = np.array(
    [[-0.5, 0.0, 0.5, 0.3, 0.5], [0.2, -0.4, 1.0, -0.6, 0.0], [-0.8, 0.9, 0.1, 0.0, 1.0]], np.float32
)
ECN_BUY, ECN_SELL = 1 + 2 * N_LPS, 2 + 2 * N_LPS


def lt_code(lp: int, buy: bool) -> int:
    return 1 + 2 * lp + (0 if buy else 1)


def fixed_state(otc: Harness, key: jax.Array | None = None, params=None):
    """A fresh state with the connectivity and tiers above."""
    params = otc.params if params is None else params
    _, state = otc.reset(fresh_key() if key is None else key, params)
    return state.replace(connected=jnp.asarray(CONNECTED), tier=jnp.asarray(TIERS))


def s_ref(v: float, s0: float, params) -> float:
    """The ECN half-spread of DESIGN.md, in float64, independent of jaxmarket.otc.ecn."""
    u = min(v / float(params.ecn_depth), float(params.max_fill))
    lam = float(params.ecn_lambda)
    if u == 0.0:
        return s0 / 2
    if lam == 2.0:
        return -(s0 / 2) * math.log(1 - u) / u
    omega = (lam - 1) / (lam - 2)
    return (s0 / 2) * (omega / u) * (1 - (1 - u) ** (1 / omega))


def assert_trees_equal(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def trees_equal(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def all_finite(tree) -> bool:
    return all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(tree) if np.issubdtype(np.asarray(x).dtype, np.floating))


def actions(lp=LP_ACTION, lt=(0,) * N_LTS) -> dict:
    return {"lp": jnp.asarray(lp), "lt": jnp.asarray(lt)}


# --- shapes -----------------------------------------------------------------------------------------------------


def test_shapes_and_spaces(otc: Harness) -> None:
    obs, state = otc.reset(fresh_key(), otc.params)
    d_lp, d_lt = otc.env.observation_space("lp").shape, otc.env.observation_space("lt").shape
    assert obs["lp"].shape == (N_LPS, *d_lp) and obs["lt"].shape == (N_LTS, *d_lt)
    assert d_lp == (len(LP_FEATURES) + len(LP_TYPE_FIELDS),)
    assert d_lt == (len(LT_FEATURES) + len(LT_QUOTE_FEATURES) * N_LPS + len(LT_TYPE_FIELDS),)
    assert obs["lp"].dtype == jnp.float32 and obs["lt"].dtype == jnp.float32
    assert otc.env.action_space("lp").shape == (N_TIERS + 2,)
    assert otc.env.action_space("lt").n == 2 * N_LPS + 3
    assert otc.env.num_agents == {"lp": N_LPS, "lt": N_LTS}
    obs2, _, rewards, terminated, truncated, info = otc.step(fresh_key(), state, actions(), otc.params)
    for family, n in otc.env.num_agents.items():
        assert obs2[family].shape == obs[family].shape
        assert rewards[family].shape == (n,) and terminated[family].shape == (n,) and truncated[family].shape == (n,)
        assert terminated[family].dtype == jnp.bool_ and truncated[family].dtype == jnp.bool_
    with pytest.raises(ValueError, match="family"):
        otc.env.observation_space("xx")
    with pytest.raises(ValueError, match="keys"):
        otc.env.step_env(fresh_key(), state, {"lp": LP_ACTION}, otc.params)


def test_shapes_follow_config() -> None:
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=4, n_lts=16)
    obs, _ = jax.eval_shape(env.reset, fresh_key(), params)  # shapes only, nothing compiled
    assert obs["lp"].shape == (4, env.observation_space("lp").shape[0])
    assert obs["lt"].shape == (16, env.observation_space("lt").shape[0])
    assert env.observation_space("lt").shape[0] == len(LT_FEATURES) + 3 * 4 + len(LT_TYPE_FIELDS)
    masks = jax.eval_shape(lambda k: env.acting(env.reset(k, params)[1]), fresh_key())
    assert masks["lp"].shape == (4,) and masks["lt"].shape == (16,)

    # no RL clients (n_lts = 0 is valid: flow clients only)
    env0, params0 = jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=0, n_flow=3)
    obs0, state0 = jax.eval_shape(env0.reset, fresh_key(), params0)
    assert obs0["lt"].shape == (0, env0.observation_space("lt").shape[0]) and obs0["lp"].shape[0] == 2
    acts0 = {"lp": jnp.zeros((2, N_TIERS + 2)), "lt": jnp.zeros((0,), jnp.int32)}
    out0 = jax.eval_shape(env0.step, fresh_key(), state0, acts0, params0)
    assert out0[2]["lt"].shape == (0,) and out0[2]["lp"].shape == (2,)


# --- turn order -------------------------------------------------------------------------------------------------


def test_stackelberg_turn_order(otc: Harness) -> None:
    state0 = fixed_state(otc)
    masks = otc.env.acting(state0)
    assert np.all(masks["lp"]) and not np.any(masks["lt"])
    lt_a, lt_b = (lt_code(0, True),) * N_LTS, (ECN_SELL, 0, 99, lt_code(2, False))

    # phase 0: the LT actions are ignored
    out_a = otc.step_env(fresh_key(), state0, actions(lt=lt_a), otc.params)
    out_b = otc.step_env(fresh_key(), state0, actions(lt=lt_b), otc.params)
    assert_trees_equal(out_a, out_b)
    obs1, state1, rewards1, terminated1, info1 = out_a
    assert int(state1.phase) == 1 and int(state1.round) == 0
    np.testing.assert_allclose(np.asarray(state1.tier_eps), LP_ACTION[:, :N_TIERS])
    assert not info1["settled"]
    for family in otc.env.families:
        np.testing.assert_array_equal(rewards1[family], 0.0)
        assert not np.any(terminated1[family])
    masks = otc.env.acting(state1)
    assert not np.any(masks["lp"]) and np.all(masks["lt"])

    # phase 1: the LP actions are ignored, the round settles
    other_lp = np.clip(LP_ACTION[::-1] + 0.3, -0.9, 1.0)
    out_c = otc.step_env(fresh_key(), state1, actions(lt=lt_a), otc.params)
    out_d = otc.step_env(fresh_key(), state1, actions(lp=other_lp, lt=lt_a), otc.params)
    assert_trees_equal(out_c, out_d)
    _, state2, rewards2, _, info2 = out_c
    assert bool(info2["settled"])
    assert int(state2.round) == 1 and int(state2.phase) == 0
    np.testing.assert_allclose(np.asarray(state2.tier_eps), LP_ACTION[:, :N_TIERS])  # the quotes stay
    assert np.any(np.asarray(rewards2["lp"]) != 0.0) and np.any(np.asarray(rewards2["lt"]) != 0.0)
    # the LT actions of phase 1 do matter
    out_e = otc.step_env(fresh_key(), state1, actions(lt=lt_b), otc.params)
    assert not trees_equal(out_c[1].client_executed, out_e[1].client_executed)


def test_simultaneous_turn_order(otc: Harness) -> None:
    env, params = jm.make(
        "jaxmarket/OTC-v0", n_lps=N_LPS, n_lts=N_LTS, n_flow=N_FLOW, n_rounds=N_ROUNDS, turn_order=jm.otc.SIMULTANEOUS
    )
    step = jax.jit(env.step_env)
    state = fixed_state(otc)  # the state layout does not depend on the turn order
    for t in range(3):
        masks = env.acting(state)
        assert np.all(masks["lp"]) and np.all(masks["lt"])
        _, state, rewards, _, info = step(jax.random.key(t), state, actions(lt=(lt_code(0, True),) * N_LTS), params)
        assert bool(info["settled"]) and int(state.round) == t + 1 and int(state.phase) == 0
        np.testing.assert_allclose(np.asarray(state.tier_eps), LP_ACTION[:, :N_TIERS])
        assert np.any(np.asarray(rewards["lp"]) != 0.0)
    # both families' actions take effect in the same step: client 0 is connected to LP 0
    assert float(state.client_executed[0]) > 0
    assert env.episode_length(params) == N_ROUNDS


def test_episode_end_and_auto_reset(otc: Harness) -> None:
    n_steps = N_ROUNDS * otc.config.n_phases
    assert otc.env.episode_length(otc.params) == n_steps
    lt = (ECN_BUY,) * N_LTS
    for step_fn, auto_reset in ((otc.step, True), (otc.step_env, False)):
        _, state = otc.reset(fresh_key(), otc.params)
        for t in range(n_steps):
            out = step_fn(jax.random.key(100 + t), state, actions(lt=lt), otc.params)
            state, terminated = out[1], out[3]
            last = t == n_steps - 1
            for family in otc.env.families:
                assert bool(np.all(terminated[family])) == last and bool(np.any(terminated[family])) == last, (t, family)
            if not last:
                assert int(state.round) == (t + 1) // 2 and int(state.phase) == (t + 1) % 2
        if auto_reset:
            assert int(state.round) == 0 and int(state.phase) == 0
            np.testing.assert_array_equal(np.asarray(state.client_executed), 0.0)
            assert int(out[3]["lp"].shape[0]) == N_LPS and not np.any(out[4]["lp"])  # truncated stays False
        else:
            assert int(state.round) == N_ROUNDS and int(state.phase) == 0
            size = np.asarray(state.client_types[:N_LTS, LT_TYPE_FIELDS.index("size_scale")])
            np.testing.assert_allclose(np.asarray(state.client_executed[:N_LTS]), N_ROUNDS * size, rtol=1e-5)


# --- observability ----------------------------------------------------------------------------------------------


def test_client_obs_shows_connected_quotes(otc: Harness) -> None:
    state0 = fixed_state(otc)
    obs, state1, *_ = otc.step_env(fresh_key(), state0, actions(), otc.params)
    lt_obs = np.asarray(obs["lt"], np.float64)
    s0 = float(state1.s0)
    size_col = LT_TYPE_FIELDS.index("size_scale")
    for i in range(N_LTS):
        size = min(float(state1.client_types[i, size_col]), float(otc.params.max_fill * otc.params.ecn_depth))
        sv, s_zero = s_ref(size, s0, otc.params), s0 / 2
        np.testing.assert_allclose(lt_obs[i, lt_index("ecn_cost_bp", otc.config)], sv / BP, rtol=1e-4)
        assert lt_obs[i, lt_index("tier", otc.config)] == TIERS[i]
        for j in range(N_LPS):
            row = lt_obs[i, [lt_index(f, otc.config, j) for f in LT_QUOTE_FEATURES]]
            if CONNECTED[j, i]:
                eps, skew = float(LP_ACTION[j, TIERS[i]]), float(LP_ACTION[j, N_TIERS])
                buy = (1 + eps) * sv + skew * s_zero  # ask / P - 1
                sell = (1 + eps) * sv - skew * s_zero  # 1 - bid / P
                np.testing.assert_allclose(row, [1.0, buy / BP, sell / BP], rtol=1e-4, atol=1e-6)
            else:
                np.testing.assert_array_equal(row, 0.0)
    # the same client cost formula as the quote prices of quotes.py: ask = P(1 + ...), bid = P(1 - ...)
    # (float32 prices: 1 ulp of P is ~1e-3 bp)
    bid, ask = jm.otc.quotes.quote_prices(
        state1.price, state1.tier_eps, state1.skew, state1.tier[:N_LTS],
        jnp.asarray([s_ref(min(float(x), 49.5), s0, otc.params) for x in state1.client_types[:N_LTS, size_col]], jnp.float32), s0 / 2,
    )
    j, i = 0, 0
    np.testing.assert_allclose(
        (float(ask[j, i]) / float(state1.price) - 1) / BP, lt_obs[i, lt_index("buy_cost_bp", otc.config, j)], atol=5e-3
    )
    np.testing.assert_allclose(
        (1 - float(bid[j, i]) / float(state1.price)) / BP, lt_obs[i, lt_index("sell_cost_bp", otc.config, j)], atol=5e-3
    )


def test_unconnected_and_other_lp_actions_are_invisible(otc: Harness) -> None:
    state0 = fixed_state(otc)
    changed = LP_ACTION.copy()
    changed[1] = [3.0, 2.0, -0.7, -1.5, 0.9]  # only LP 1's action changes
    obs_a, *_ = otc.step_env(fresh_key(), state0, actions(), otc.params)
    obs_b, *_ = otc.step_env(fresh_key(), state0, actions(lp=changed), otc.params)
    lt_a, lt_b = np.asarray(obs_a["lt"]), np.asarray(obs_b["lt"])
    for i in range(N_LTS):
        if CONNECTED[1, i]:
            assert not np.array_equal(lt_a[i], lt_b[i]), i  # a connected client sees the change
        else:
            np.testing.assert_array_equal(lt_a[i], lt_b[i])  # an unconnected one does not
    # no LP observes another LP's quote
    np.testing.assert_array_equal(np.asarray(obs_a["lp"]), np.asarray(obs_b["lp"]))


def test_lp_obs_after_settlement_shows_own_trades(otc: Harness) -> None:
    lt_super = {**default_lt_supertype(), "p_trade": Uniform(1.0, 1.0)}
    params = otc.params.replace(lt_supertype=lt_super)
    otc.env.check_params(params)
    state0 = fixed_state(otc, jax.random.key(5), params)
    _, state1, *_ = otc.step_env(fresh_key(), state0, actions(), params)
    lt_act = jnp.asarray([lt_code(0, True), lt_code(0, False), ECN_BUY, lt_code(2, True)])
    key = jax.random.key(11)
    obs2, state2, rewards2, _, _ = otc.step_env(jax.random.clone(key), state1, actions(lt=lt_act), params)  # replayed below
    settled, lp_r, lt_r, info = otc.settle(key, market.choose(state1, lt_act, otc.config), otc.config, params)
    for x, y in zip(jax.tree.leaves(state2), jax.tree.leaves(settled), strict=True):  # same up to float32 fusion
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(rewards2["lp"]), np.asarray(lp_r), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(rewards2["lt"]), np.asarray(lt_r), rtol=1e-4, atol=1e-5)

    venue, side, size = (np.asarray(info[k]) for k in ("venue", "side", "size"))
    assert np.all(side[N_LTS:] != 0)  # every flow client traded
    np.testing.assert_array_equal(venue[:N_LTS], [0, 0, N_LPS, 2])
    lp_obs = np.asarray(obs2["lp"], np.float64)
    bought = np.array([size[(venue == j) & (side > 0)].sum() for j in range(N_LPS)])
    sold = np.array([size[(venue == j) & (side < 0)].sum() for j in range(N_LPS)])
    np.testing.assert_allclose(lp_obs[:, lp_index("last_buy")], bought, rtol=1e-5)
    np.testing.assert_allclose(lp_obs[:, lp_index("last_sell")], sold, rtol=1e-5)
    total = size[side != 0].sum()
    np.testing.assert_allclose(lp_obs[:, lp_index("last_share")], (bought + sold) / total, rtol=1e-5)
    assert len(set(np.round(bought + sold, 5))) > 1  # LPs saw different volumes: the check is not vacuous
    # inventories follow the trades and hedges
    np.testing.assert_allclose(
        lp_obs[:, lp_index("inventory")] * float(params.inventory_scale),
        sold - bought + np.asarray(info["hedge"]),
        rtol=1e-5, atol=1e-6,
    )


def test_settle_rewards_follow_reward_families(otc: Harness) -> None:
    state0 = fixed_state(otc)
    _, state1, *_ = otc.step_env(fresh_key(), state0, actions(), otc.params)
    lt_act = jnp.asarray([lt_code(0, True), lt_code(0, False), ECN_SELL, lt_code(1, True)])
    chosen = market.choose(state1, lt_act, otc.config)
    new, lp_r, lt_r, info = otc.settle(jax.random.key(2), chosen, otc.config, otc.params)
    mu = float(state1.price0) * BP
    move = float(new.price) - float(state1.price)
    lpt = np.asarray(state1.lp_types, np.float64)
    c = LP_TYPE_FIELDS.index
    inv_pnl = np.asarray(new.lp_inventory, np.float64) * move
    np.testing.assert_allclose(np.asarray(info["lp_inventory_pnl"]), inv_pnl, rtol=1e-4, atol=1e-9)
    pnl = (np.asarray(info["lp_spread"]) + inv_pnl - np.asarray(info["lp_hedge_cost"]) - lpt[:, c("gamma")] * np.abs(inv_pnl)) / mu
    share = np.asarray(info["share"], np.float64)
    expected = lpt[:, c("omega")] * pnl + (1 - lpt[:, c("omega")]) * lpt[:, c("share_weight")] * -np.abs(share - lpt[:, c("target_share")])
    np.testing.assert_allclose(np.asarray(lp_r), expected, rtol=1e-3, atol=1e-3)
    # LT: client 2 sold on the ECN at S_ref(size)
    ltt = np.asarray(state1.client_types, np.float64)
    t = LT_TYPE_FIELDS.index
    size = min(ltt[2, t("size_scale")], 49.5)
    paid = size * float(state1.price) * s_ref(size, float(state1.s0), otc.params)
    np.testing.assert_allclose(float(info["paid"][2]), paid, rtol=1e-4)
    inv = -size * move
    executed, schedule = -size, ltt[2, t("target")] * 1 / N_ROUNDS
    expected_lt = ltt[2, t("omega")] * ltt[2, t("alpha")] * (-paid / mu + inv / mu - ltt[2, t("gamma")] * abs(inv / mu))
    expected_lt += (1 - ltt[2, t("omega")]) * -abs(executed - schedule)
    np.testing.assert_allclose(float(lt_r[2]), expected_lt, rtol=1e-3, atol=1e-3)


# --- types ------------------------------------------------------------------------------------------------------

TYPED_LP = {
    **default_lp_supertype(),
    "gamma": ClippedNormal(0.5, 1.0, 0.0, 1.5),
    "tier_aggressiveness": Categorical(np.array([0.0, 0.25, 0.5], np.float32), np.array([0.2, 0.3, 0.5], np.float32)),
}
TYPED_LT = {
    **default_lt_supertype(),
    "p_trade": ClippedNormal(0.5, 0.3, 0.1, 0.9),
    "target": Categorical(np.array([-5.0, 5.0], np.float32), np.array([0.5, 0.5], np.float32)),
    "informed": Uniform(0.0, 0.0),
}


def test_types_in_support_and_appended_to_obs(otc: Harness) -> None:
    params = otc.params.replace(lp_supertype=TYPED_LP, lt_supertype=TYPED_LT, tier_probs=np.array([0.0, 0.25, 0.75]))
    otc.env.check_params(params)
    reset = jax.jit(otc.env.reset)  # new params structure (ClippedNormal, Categorical, tier_probs): its own compile
    outs = [reset(k, params) for k in jax.random.split(fresh_key(), 60)]
    obs = {f: np.stack([np.asarray(o[f]) for o, _ in outs]) for f in otc.env.families}
    states = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *[s for _, s in outs])
    for family, supertype, fields, types in (
        ("lp", TYPED_LP, LP_TYPE_FIELDS, np.asarray(states.lp_types)),
        ("lt", TYPED_LT, LT_TYPE_FIELDS, np.asarray(states.client_types)),
    ):
        assert types.shape[-1] == len(fields)
        for col, name in enumerate(fields):
            lo, hi = supertype[name].support()
            values = types[..., col]
            assert values.min() >= float(lo) and values.max() <= float(hi), (family, name)
            if isinstance(supertype[name], Categorical):
                assert set(np.unique(values)) <= set(np.asarray(supertype[name].values).tolist()), name
            elif float(lo) < float(hi):
                assert np.unique(values).size > 10, name  # drawn per agent and episode, not constant
        # the type is the last block of the observation
        d = len(fields)
        own = types if family == "lp" else types[:, :N_LTS]
        np.testing.assert_array_equal(np.asarray(obs[family])[..., -d:], own)
    # the clipped normal puts mass on its bounds; the categorical hits every listed value
    gamma = np.asarray(states.lp_types)[..., LP_TYPE_FIELDS.index("gamma")]
    assert np.mean(gamma == 0.0) > 0.2 and np.mean(gamma == 1.5) > 0.05
    target = np.asarray(states.client_types)[..., LT_TYPE_FIELDS.index("target")]
    assert set(np.unique(target)) == {-5.0, 5.0}
    # client tiers follow tier_probs
    tiers = np.asarray(states.tier).reshape(-1)
    assert set(np.unique(tiers)) == {1, 2}
    assert abs(np.mean(tiers == 2) - 0.75) < 5 * math.sqrt(0.75 * 0.25 / tiers.size)
    np.testing.assert_array_equal(obs["lt"][..., lt_index("tier", otc.config)], np.asarray(states.tier)[:, :N_LTS])
    for name in LP_TYPE_FIELDS:
        np.testing.assert_array_equal(
            np.asarray(obs["lp"])[..., lp_index(name)], np.asarray(states.lp_types)[..., LP_TYPE_FIELDS.index(name)]
        )
    for name in LT_TYPE_FIELDS:
        np.testing.assert_array_equal(
            np.asarray(obs["lt"])[..., lt_index(name, otc.config)], np.asarray(states.client_types)[:, :N_LTS, LT_TYPE_FIELDS.index(name)]
        )


def test_supertype_parameters_change_behaviour_without_recompiling(otc: Harness) -> None:
    keys = jax.random.split(jax.random.key(9), 4)

    def run(params):
        finals = [heuristic_episode(otc, k, params, N_ROUNDS * 2) for k in keys]
        volume = np.array([float(f.lp_volume.sum() + f.ecn_client_volume) for f, _ in finals])
        lp_return = np.stack([r["lp"] for _, r in finals])
        return volume, lp_return, np.stack([np.asarray(f.lp_types) for f, _ in finals])

    lt = default_lt_supertype()
    vol_lo, _, _ = run(otc.params.replace(lt_supertype={**lt, "p_trade": Uniform(0.1, 0.1)}))
    vol_hi, _, _ = run(otc.params.replace(lt_supertype={**lt, "p_trade": Uniform(0.9, 0.9)}))
    assert vol_hi.mean() > 2.0 * vol_lo.mean()
    lp = default_lp_supertype()
    _, r0, types0 = run(otc.params.replace(lp_supertype={**lp, "gamma": Uniform(0.0, 0.0)}))
    _, r5, types5 = run(otc.params.replace(lp_supertype={**lp, "gamma": Uniform(5.0, 5.0)}))
    np.testing.assert_array_equal(types0[..., LP_TYPE_FIELDS.index("gamma")], 0.0)
    np.testing.assert_array_equal(types5[..., LP_TYPE_FIELDS.index("gamma")], 5.0)
    assert not np.allclose(r0, r5)
    # otc.reset and otc.policy_step are wrapped in chex.assert_max_traces(n=1): reaching here means no retrace


# --- validation -------------------------------------------------------------------------------------------------

SMALL = dict(n_lps=2, n_lts=1, n_flow=2)


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        (dict(n_lps=0), "n_lps = 0"),
        (dict(n_lts=-1), "n_lts = -1"),
        (dict(n_lts=0, n_flow=0), "n_lts + n_flow"),
        (dict(n_tiers=0), "n_tiers = 0"),
        (dict(n_lps=1.5), "n_lps"),
        (dict(turn_order=(("lp",),)), "turn_order"),
        (dict(turn_order=(("lp",), ("lt",), ("lp",))), "turn_order"),
        (dict(turn_order=(("lp",), ("dealer",))), "turn_order"),
        (dict(turn_order="stackelberg"), "turn_order"),
        (dict(reference="foo"), "reference = 'foo'"),
        (dict(p_connect=1.5), "p_connect = 1.5"),
        (dict(p_buy=-0.1), "p_buy = -0.1"),
        (dict(tier_probs=np.array([0.5, 0.3, 0.1])), "tier_probs"),
        (dict(tier_probs=np.array([0.5, 0.5])), "tier_probs"),
        (dict(tier_probs=np.array([1.5, -0.5, 0.0])), "tier_probs"),
        (dict(ecn_lambda=1.0), "ecn_lambda = 1.0"),
        (dict(max_fill=1.0), "max_fill = 1.0"),
        (dict(eps_min=-1.0), "eps_min = -1.0"),
        (dict(eps_min=2.0, eps_max=1.0), "eps_min"),
        (dict(n_rounds=0), "n_rounds"),
        (dict(price0=float("nan")), "price0"),
        (dict(ecn_spread_min=4e-4, ecn_spread_max=3e-4), "ecn_spread_min"),
        (dict(lp_supertype={**default_lp_supertype(), "gamma": Uniform(2.0, 1.0)}), "lp_supertype['gamma']"),
        (dict(lt_supertype={**default_lt_supertype(), "omega": Uniform(0.0, 2.0)}), "lt_supertype['omega'] has support"),
        (dict(lp_supertype={**default_lp_supertype(), "omega": Uniform(0.0, 2.0)}), "valid range [0.0, 1.0]"),
        (dict(lt_supertype={k: v for k, v in default_lt_supertype().items() if k != "alpha"}), "missing fields ['alpha']"),
        (dict(lp_supertype={**default_lp_supertype(), "beta": Uniform(0.0, 1.0)}), "unknown fields ['beta']"),
        (dict(lt_supertype={**default_lt_supertype(), "p_trade": 0.5}), "lt_supertype['p_trade']"),
        (dict(not_a_param=1.0), "not_a_param"),
    ],
)
def test_bad_config_raises_naming_field(overrides: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        jm.make("jaxmarket/OTC-v0", **{**SMALL, **overrides})
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "overrides,fragment",
    [
        (dict(tier_probs=[0.5, 0.3, 0.1]), "tier_probs"),
        (dict(tier_probs=[0.5, 0.5]), "tier_probs"),
        (dict(tier_probs=(0.25, 0.25, 0.25, 0.25)), "tier_probs"),
        (dict(lt_supertype={**default_lt_supertype(), "omega": Categorical([0.0, 2.0], [0.5, 0.5])}), "lt_supertype['omega']"),
        (dict(lp_supertype={**default_lp_supertype(), "gamma": Categorical([0.0, 1.0], [0.5, 0.6])}), "lp_supertype['gamma']"),
    ],
)
def test_bad_params_given_as_python_sequences(overrides: dict, fragment: str) -> None:
    """Lists and tuples are the natural way to write these values; they must be checked like arrays."""
    with pytest.raises(ValueError) as err:
        jm.make("jaxmarket/OTC-v0", **SMALL, **overrides)
    assert fragment in str(err.value)


def replay_bad(length: int, bad_index: int | None, value: float) -> np.ndarray:
    series = np.linspace(1.10, 1.12, length)
    if bad_index is not None:
        series[bad_index] = value
    return series


@pytest.mark.parametrize(
    "series,fragment",
    [
        (replay_bad(10, 3, np.nan), "series[3]"),
        (replay_bad(10, 7, np.inf), "series[7]"),
        (replay_bad(10, 4, 0.0), "series[4]"),
        (replay_bad(10, 0, -1.1), "series[0]"),
        (replay_bad(5, None, 0.0), "n_rounds + 1 = 6"),
        (np.ones((6, 2)), "series"),
    ],
)
def test_bad_replay_series(series: np.ndarray, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        jm.make("jaxmarket/OTC-v0", **SMALL, reference="replay", n_rounds=5, series=series)
    assert fragment in str(err.value)


def test_check_params_catches_replaced_params(otc: Harness) -> None:
    with pytest.raises(ValueError, match="p_connect"):
        otc.env.check_params(otc.params.replace(p_connect=-0.5))
    with pytest.raises(ValueError, match="p_connect"):
        jm.evaluate(otc.env, otc.params.replace(p_connect=2.0), dealer.heuristic_policy(otc.env), num_episodes=1)


# --- invalid actions --------------------------------------------------------------------------------------------


def test_non_finite_lp_actions_are_sanitized_and_counted(otc: Harness) -> None:
    state0 = fixed_state(otc)
    bad = LP_ACTION.copy()
    bad[0, 1] = np.nan
    bad[1, N_TIERS + 1] = np.inf  # hedge
    bad[2, 0] = -np.inf
    obs1, state1, *_ = otc.step_env(fresh_key(), state0, actions(lp=bad), otc.params)
    assert int(state1.n_invalid_lp) == 3
    assert all_finite(obs1) and all_finite(state1)
    eps = np.asarray(state1.tier_eps)
    assert eps[0, 1] == otc.params.eps_max and eps[2, 0] == otc.params.eps_max  # non-finite: widest spread
    assert float(state1.hedge[1]) == 0.0  # non-finite hedge: none
    np.testing.assert_allclose(eps[0, [0, 2]], LP_ACTION[0, [0, 2]])
    lt_act = jnp.asarray([lt_code(0, True), lt_code(0, False), ECN_BUY, lt_code(1, True)])
    obs2, state2, rewards, *_ = otc.step_env(fresh_key(), state1, actions(lt=lt_act), otc.params)
    assert all_finite(rewards) and all_finite(obs2) and all_finite(state2)
    assert int(state2.n_invalid_lp) == 3 and int(state2.n_invalid_lt) == 0
    # out-of-range finite values are clipped and counted
    wild = np.array([[10.0, -5.0, 0.0, 9.0, 2.0], [0.0, 0.0, 0.0, 0.0, -1.0], [0.0, 0.0, 0.0, 0.0, 0.5]], np.float32)
    _, state3, *_ = otc.step_env(fresh_key(), state0, actions(lp=wild), otc.params)
    assert int(state3.n_invalid_lp) == 2
    np.testing.assert_allclose(np.asarray(state3.tier_eps)[0], [otc.params.eps_max, otc.params.eps_min, 0.0])
    assert float(state3.skew[0]) == otc.params.skew_max and float(state3.hedge[0]) == 1.0 and float(state3.hedge[1]) == 0.0


@pytest.mark.parametrize(
    "codes,n_invalid",
    [
        (np.array([99, -1, 0, ECN_BUY], np.int32), 2),
        (np.array([2 * N_LPS + 3, ECN_SELL, ECN_BUY, -7], np.int32), 2),
        (np.array([2.5, np.nan, np.inf, 3.0], np.float32), 3),
        (np.array([1.0, 2.0, -np.inf, ECN_SELL + 0.5], np.float32), 2),
    ],
)
def test_invalid_lt_codes_are_counted_and_do_not_trade(otc: Harness, codes: np.ndarray, n_invalid: int) -> None:
    _, state1, *_ = otc.step_env(fresh_key(), fixed_state(otc), actions(), otc.params)
    obs2, state2, rewards, *_ = otc.step_env(fresh_key(), state1, actions(lt=codes), otc.params)
    assert int(state2.n_invalid_lt) == n_invalid
    assert all_finite(rewards) and all_finite(obs2) and all_finite(state2)
    raw = np.asarray(codes, np.float64)
    valid = np.isfinite(raw) & (raw == np.round(raw)) & (raw >= 0) & (raw < 2 * N_LPS + 3)
    for i in range(N_LTS):
        if not valid[i] or raw[i] == 0:
            assert float(state2.client_executed[i]) == 0.0 and float(state2.client_inventory[i]) == 0.0, i
        else:
            assert float(state2.client_executed[i]) != 0.0, i


def test_unconnected_lp_choice_does_not_trade(otc: Harness) -> None:
    _, state1, *_ = otc.step_env(fresh_key(), fixed_state(otc), actions(), otc.params)
    # client 1 is connected only to LP 0; client 2 to none; client 3 to LPs 1 and 2
    codes = jnp.asarray([lt_code(2, True), lt_code(1, False), lt_code(0, True), lt_code(0, False)], jnp.int32)
    _, state2, rewards, *_ = otc.step_env(fresh_key(), state1, actions(lt=codes), otc.params)
    assert int(state2.n_invalid_lt) == 3
    np.testing.assert_array_equal(np.asarray(state2.client_executed[1:N_LTS]), 0.0)
    assert float(state2.client_executed[0]) > 0.0  # client 0 is connected to LP 2
    assert all_finite(rewards)
    size0 = float(state1.client_types[0, LT_TYPE_FIELDS.index("size_scale")])
    assert float(state2.lp_last_buy[2]) >= size0 * (1 - 1e-6)


# --- replay -----------------------------------------------------------------------------------------------------


def test_replay_follows_series() -> None:
    n_rounds = 6
    custom = np.array([1.10, 1.12, 1.09, 1.15, 1.13, 1.20, 1.18, 1.21, 1.17], np.float32)
    env, params = jm.make("jaxmarket/OTC-v0", **SMALL, reference="replay", n_rounds=n_rounds, series=custom)
    step = jax.jit(env.step_env)
    acts = {"lp": jnp.zeros((2, N_TIERS + 2)), "lt": jnp.full((1,), 1 + 2 * 2)}
    offsets = set()
    for seed in range(5):
        state = market.reset(jax.random.key(seed), env.config, params)
        offset = int(state.offset)
        offsets.add(offset)
        assert 0 <= offset and offset + n_rounds <= custom.size - 1
        assert float(state.price) == custom[offset] and float(state.price0) == custom[offset]
        for t in range(2 * n_rounds):
            _, state, *_ = step(jax.random.key(100 * seed + t), state, acts, params)
            assert int(state.round) == (t + 1) // 2
            assert float(state.price) == custom[offset + int(state.round)], (seed, t)
        assert int(state.round) == n_rounds
    assert len(offsets) > 1  # episodes start at random offsets

    # the default series is the bundled EUR/USD sample
    env_b, params_b = jm.make("jaxmarket/OTC-v0", **SMALL, reference="replay", n_rounds=n_rounds)
    bundled = np.asarray(params_b.series)
    np.testing.assert_array_equal(bundled, jm.data.eurusd_hourly().prices.astype(np.float32))
    states = [market.reset(k, env_b.config, params_b) for k in jax.random.split(fresh_key(), 2)]
    for state in states:
        offset = int(state.offset)
        assert 0 <= offset <= bundled.size - n_rounds - 1
        assert float(state.price) == bundled[offset]
    assert int(states[0].offset) != int(states[1].offset)


# --- evaluation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy_name", ["heuristic", "random"])
def test_evaluate(otc: Harness, policy_name: str) -> None:
    policy = dealer.heuristic_policy(otc.env) if policy_name == "heuristic" else jm.random_policy(otc.env)
    out = jm.evaluate(otc.env, otc.params, policy, num_episodes=6, seed=1)
    assert set(out["return"]) == {"lp", "lt"}
    assert out["return"]["lp"].shape == (6, N_LPS) and out["return"]["lt"].shape == (6, N_LTS)
    assert np.all(np.isfinite(out["return"]["lp"])) and np.all(np.isfinite(out["return"]["lt"]))
    np.testing.assert_array_equal(out["length"], N_ROUNDS * 2)
    for name in ("market_share", "internalization", "spread_pnl", "lp_pnl", "hedge_volume", "lp_volume"):
        assert out[name].shape == (6, N_LPS) and np.all(np.isfinite(out[name])), name
    assert out["tier_spread_bp"].shape == (6, N_TIERS)
    flows = out["flow_lp"] + out["flow_ecn"]
    np.testing.assert_allclose(flows[flows > 0], 1.0, rtol=1e-5)
    assert np.all((out["market_share"] >= 0) & (out["market_share"] <= 1))
    np.testing.assert_array_equal(out["n_invalid_lp"], 0)  # both policies act within the LP action space
    if policy_name == "heuristic":
        np.testing.assert_array_equal(out["n_invalid_lt"], 0)


# --- OTC-LP-v0 --------------------------------------------------------------------------------------------------


def test_otc_lp_env() -> None:
    n_rounds = 5
    env, params = gymnax.make("jaxmarket/OTC-LP-v0", n_lps=3, n_flow=6, n_rounds=n_rounds)
    env2, _ = jm.make("jaxmarket/OTC-LP-v0")
    assert type(env2) is type(env)
    obs_shape = jax.eval_shape(env.reset, fresh_key(), params)[0]
    assert obs_shape.shape == env.observation_space(params).shape and obs_shape.dtype == jnp.float32
    obs, state = env.reset_env(fresh_key(), params)
    assert obs.shape == obs_shape.shape
    space = env.action_space(params)
    assert space.shape == (N_TIERS + 2,) == (env.num_actions,)

    @jax.jit
    def step_and_expected(k, state):
        k_act, k_step = jax.random.split(k)
        action = space.sample(k_act)
        obs, new_state, reward, done, _, _ = env.step(jax.random.clone(k_step), state, action, params)  # replayed below
        # the reward is LP 0's reward of market.settle on the same key and state
        others = dealer.heuristic_lp_actions(
            jm.otc.observations.lp_observation(state, env.config, params), env.config, params,
            params.curve_alpha, params.ref_size, params.hedge_scale, params.skew_coef,
        )
        quoted = market.quote(state, jnp.concatenate([action[None], others[1:]]), env.config, params)
        _, lp_r, _, _ = market.settle(jax.random.split(k_step)[0], quoted, env.config, params)
        return new_state, obs, reward, done, lp_r[0]

    out = []
    s = state
    for k in jax.random.split(jax.random.key(8), 2 * n_rounds):
        rounds_before = int(s.round)
        s, *rest = step_and_expected(k, s)
        out.append([np.asarray(x) for x in rest] + [rounds_before])
    obs_seq, rewards, dones, expected, rounds = (np.stack([o[i] for o in out]) for i in range(5))
    assert obs_seq.shape == (2 * n_rounds, *env.observation_space(params).shape)
    assert rewards.shape == (2 * n_rounds,) and dones.dtype == jnp.bool_
    expected_done = np.zeros(2 * n_rounds, bool)
    expected_done[n_rounds - 1] = expected_done[2 * n_rounds - 1] = True
    np.testing.assert_array_equal(np.asarray(dones), expected_done)  # an episode lasts n_rounds steps
    np.testing.assert_array_equal(np.asarray(rounds), np.tile(np.arange(n_rounds), 2))
    np.testing.assert_allclose(rewards, expected, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(rewards))) and np.any(np.asarray(rewards) != 0)
    assert np.all(np.isfinite(np.asarray(obs_seq)))
    # the type is appended to the agent's observation
    np.testing.assert_array_equal(np.asarray(obs)[-len(LP_TYPE_FIELDS):], np.asarray(state.lp_types[0]))


# --- cheapest-quote clients -------------------------------------------------------------------------------------


def test_cheapest_quote_clients_pick_cheapest_connected_venue(otc: Harness) -> None:
    lt_super = {**default_lt_supertype(), "target": Uniform(-12.0, 12.0)}
    params = otc.params.replace(lt_supertype=lt_super)
    n_checked, sides = 0, set()
    venues = set()
    for seed in range(6):
        state0 = fixed_state(otc, jax.random.key(seed), params)
        obs1, state1, *_ = otc.step_env(jax.random.key(seed), state0, actions(), params)
        lt_obs = np.asarray(obs1["lt"], np.float64)
        codes = np.asarray(dealer.cheapest_quote_lt_actions(obs1["lt"], otc.config, params))
        s0 = float(state1.s0)
        for i in range(N_LTS):
            target = float(state1.client_types[i, LT_TYPE_FIELDS.index("target")])
            size = float(state1.client_types[i, LT_TYPE_FIELDS.index("size_scale")])
            if abs(target) / N_ROUNDS < size / 2:  # less than half a size behind the schedule: no trade
                assert codes[i] == 0
                continue
            venue, buy = (codes[i] - 1) // 2, (codes[i] - 1) % 2 == 0
            assert buy == (target > 0)
            sv = s_ref(size, s0, otc.params)
            costs = {N_LPS: sv}  # the ECN
            for j in range(N_LPS):
                if CONNECTED[j, i]:
                    eps, skew = float(LP_ACTION[j, TIERS[i]]), float(LP_ACTION[j, N_TIERS])
                    costs[j] = (1 + eps) * sv + (1 if buy else -1) * skew * s0 / 2
                    feature = "buy_cost_bp" if buy else "sell_cost_bp"
                    np.testing.assert_allclose(lt_obs[i, lt_index(feature, otc.config, j)], costs[j] / BP, rtol=1e-4)
            assert venue in costs, (i, venue)  # never an unconnected LP
            assert costs[venue] <= min(costs.values()) * (1 + 1e-5), (i, venue, costs)
            venues.add(int(venue))
            sides.add(buy)
            n_checked += 1
        # the chosen codes are all valid in the env
        _, state2, *_ = otc.step_env(fresh_key(), state1, actions(lt=codes), params)
        assert int(state2.n_invalid_lt) == 0
    assert n_checked >= 8 and sides == {True, False} and len(venues) >= 2


def test_schedule_clients_meet_their_target(otc: Harness) -> None:
    n_rounds = 10
    lt_super = {
        **default_lt_supertype(),
        "omega": Uniform(0.0, 0.0),
        "target": Uniform(-5.0, 5.0),
        "size_scale": Uniform(0.5, 2.0),
    }
    params = otc.params.replace(n_rounds=n_rounds, lt_supertype=lt_super)
    otc.env.check_params(params)
    episodes = [heuristic_episode(otc, k, params, 2 * n_rounds) for k in jax.random.split(jax.random.key(21), 6)]
    finals = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *[f for f, _ in episodes])
    rewards = {"lt": np.stack([r["lt"] for _, r in episodes])}
    np.testing.assert_array_equal(np.asarray(finals.round), n_rounds)
    types = np.asarray(finals.client_types)[:, :N_LTS]
    target = types[..., LT_TYPE_FIELDS.index("target")]
    size = types[..., LT_TYPE_FIELDS.index("size_scale")]
    executed = np.asarray(finals.client_executed)[:, :N_LTS]
    assert np.all(np.abs(executed - target) <= size + 1e-4), np.abs(executed - target) - size
    big = np.abs(target) > size
    assert big.sum() > 5 and np.all(np.sign(executed[big]) == np.sign(target[big]))
    np.testing.assert_array_equal(np.asarray(finals.n_invalid_lt), 0)
    # with omega = 0 the LT reward is minus the schedule gap, so it is never positive
    assert np.all(rewards["lt"] <= 1e-6) and np.any(rewards["lt"] < 0)


def test_money_does_not_depend_on_the_price_level() -> None:
    """Rewards are in units of price0 * 1 bp and wealth is kept in PnL-scale terms, so the same
    episodes at the smallest and largest valid opening prices give the same returns and metrics as
    at price0 = 1.1, within float32 rounding."""
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=3, n_lts=4, n_flow=8, n_rounds=12)
    policy = dealer.heuristic_policy(env)
    steps = env.episode_length(params)

    @jax.jit
    def episodes(params, key):
        return jax.vmap(lambda k: rollout_episode(env, params, policy, k, steps))(jax.random.split(key, 16))

    results = {price0: episodes(params.replace(price0=price0), jax.random.key(3))
               for price0 in (1.1, market.PRICE_MIN, market.PRICE_MAX)}
    base = results[1.1]
    tolerance = 1e-3  # of the largest value: float32 rounds differently at each price level
    for price0 in (market.PRICE_MIN, market.PRICE_MAX):
        for family in ("lp", "lt"):
            scale = np.abs(base["return"][family]).max()
            np.testing.assert_allclose(results[price0]["return"][family], base["return"][family], atol=tolerance * scale)
        for name in ("lp_pnl", "spread_pnl", "inventory_pnl", "hedge_cost"):
            np.testing.assert_allclose(results[price0][name], base[name], atol=tolerance * np.abs(base[name]).max())
    with pytest.raises(ValueError, match=r"price0 = 2000000000.0 is out of range: valid range is \[1e-06, 1000000000.0\]"):
        jm.make("jaxmarket/OTC-v0", price0=2e9)
