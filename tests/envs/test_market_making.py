"""MarketMaking-AS-v0 against a numpy reference, plus bad input, tracing and determinism."""

import dataclasses

import chex
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxmarket as jm
from jaxmarket.envs.market_making import MAX_S0, MarketMakingParams, cash, mid, step_noise, wealth
from tests.reference_market_making import reference_step

ENV_ID = "jaxmarket/MarketMaking-AS-v0"
_JITTED: dict = {}


def _step_env(env, key, state, action, params):
    """``env.step_env`` (no auto-reset), jitted once per env."""
    if env not in _JITTED:
        _JITTED[env] = jax.jit(env.step_env)
    return _JITTED[env](key, state, action, params)

_SMALL = jm.make(ENV_ID, max_inventory=5, max_steps_in_episode=20, intensity=300.0)
depth = st.one_of(
    st.floats(-2.0, 12.0, allow_nan=False),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, 10.0, 1e30]),
)


@settings(max_examples=300, deadline=None)
@given(
    bid=depth,
    ask=depth,
    inventory=st.integers(-5, 5),
    time=st.integers(0, 19),
    seed=st.integers(0, 2**31 - 1),
    phi=st.floats(0.0, 1.0),
    alpha=st.floats(0.0, 1.0),
)
def test_step_matches_numpy_reference(bid, ask, inventory, time, seed, phi, alpha):
    """Small max_inventory and few steps so the inventory bounds and the terminal penalty are hit."""
    env, params = _SMALL
    params = params.replace(phi=phi, alpha=alpha)
    _, state = env.reset(jax.random.key(0), params)
    # cash X = -37.5 at S = S0 = 100: the state holds X + q S0
    state = state.replace(inventory=jnp.int32(inventory), time=jnp.int32(time),
                          relative_cash=jnp.float32(-37.5 + inventory * 100.0))
    key = jax.random.key(seed)
    # The reference replays the env's own draws: a deliberate second use of the key.
    obs, new, reward, terminated, info = _step_env(env, jax.random.clone(key), state, jnp.array([bid, ask], jnp.float32), params)
    uniforms, normal = step_noise(key)
    p = {f.name: float(getattr(params, f.name)) for f in dataclasses.fields(params)}
    ref_state, ref_reward, ref_obs, invalid = reference_step(
        {"mid": 100.0, "cash": -37.5, "inventory": inventory, "time": time},
        np.array([bid, ask], np.float32), np.asarray(uniforms), float(normal), p,
    )
    assert int(new.inventory) == ref_state["inventory"]
    assert int(new.time) == ref_state["time"]
    np.testing.assert_allclose(float(mid(new, params)), ref_state["mid"], rtol=1e-6)
    np.testing.assert_allclose(float(cash(new, params)), ref_state["cash"], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(float(reward), ref_reward, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(obs), ref_obs, rtol=1e-6, atol=1e-7)
    assert int(new.n_invalid_actions) == invalid
    assert bool(terminated) == (ref_state["time"] >= 20)
    assert np.isfinite(float(reward)) and np.all(np.isfinite(np.asarray(obs)))




def test_accounting_identity_and_inventory_bound():
    """Over whole episodes: cash + q * mid equals the summed PnL increments; |q| <= max_inventory."""
    env, params = jm.make(ENV_ID, max_inventory=3)
    stats = jm.evaluate(env, params, jm.random_policy(env), num_episodes=500, seed=3)
    np.testing.assert_allclose(stats["wealth"], stats["pnl"], atol=0.05)
    assert np.abs(stats["final_inventory"]).max() <= 3
    assert np.all(stats["n_bid_fills"] - stats["n_ask_fills"] == stats["final_inventory"])


@pytest.mark.parametrize("s0", [100.0, MAX_S0])
def test_money_error_does_not_grow_with_the_price(s0):
    """At the largest valid opening price, wealth, PnL and return stay within the documented
    float32 bound of a float64 recomputation of the same fills; the absolute cash is off by at
    most float32 rounding of ``q S0``."""
    env, params = jm.make(ENV_ID, s0=s0, max_inventory=5)
    step = jax.jit(env.step_env)
    policy = jm.baselines.avellaneda_stoikov(0.1)
    _, state = env.reset(jax.random.key(0), params)
    sd = params.sigma * np.sqrt(float(params.dt))
    x64, s64, q, total_return = 0.0, float(s0), 0, 0.0
    moves = fills_abs = 0.0
    for key in jax.random.split(jax.random.key(1), params.max_steps_in_episode):
        action = np.asarray(policy(None, None, state, params), np.float64)
        _, new, reward, _, _ = step(jax.random.clone(key), state, action, params)
        _, normal = step_noise(key)  # the env's own draws, replayed in float64
        bought = int(new.n_bid_fills - state.n_bid_fills)
        sold = int(new.n_ask_fills - state.n_ask_fills)
        x64 += -bought * (s64 - action[0]) + sold * (s64 + action[1])
        fills_abs += bought * abs(s64 - s0 - action[0]) + sold * abs(s64 - s0 + action[1])
        q += bought - sold
        move = sd * float(normal)
        s64 += move
        moves += abs(move)
        total_return += float(reward)
        state = new
    n = params.max_steps_in_episode
    u = 2.0**-24
    gamma = 2 * n * u / (1 - 2 * n * u)
    bound = (2 * n + 3 * abs(q) + 3) * gamma * (moves + fills_abs)
    wealth64 = x64 + q * s64
    assert int(state.inventory) == q
    assert abs(float(wealth(state)) - wealth64) <= bound
    assert abs(float(state.pnl) - wealth64) <= bound
    assert abs(total_return - wealth64) <= bound
    assert abs(float(cash(state, params)) - x64) <= bound + 2 * u * abs(q) * s0
    assert bound < 0.05 * max(abs(wealth64), 1.0)  # the bound is tight enough to be useful


def test_pnl_reward_sums_to_wealth():
    """With phi = alpha = 0 the return is the episode's mark-to-market PnL."""
    env, params = jm.make(ENV_ID)
    stats = jm.evaluate(env, params, jm.baselines.avellaneda_stoikov(0.1), num_episodes=200, seed=4)
    np.testing.assert_allclose(stats["return"], stats["wealth"], atol=0.05)
    assert np.all(stats["penalty"] == 0)


@pytest.mark.parametrize(
    "field, value, text",
    [
        ("sigma", 0.0, "(0.0, inf]"),
        ("sigma", -1.0, "(0.0, inf]"),
        ("decay", 0.0, "(0.0, inf]"),
        ("horizon", -2.0, "(0.0, inf]"),
        ("max_steps_in_episode", 0, "[1, 2147483647]"),
        ("max_steps_in_episode", 2.5, "[1, 2147483647]"),
        ("max_steps_in_episode", np.int64(2**32 + 200), "[1, 2147483647]"),
        ("s0", 2e9, "(0.0, 1000000000.0]"),
        ("sigma", jnp.float32(-1.0), "(0.0, inf]"),  # a JAX array is read, not skipped
        ("max_inventory", jnp.int32(0), "[1, 2147483647]"),
        ("max_inventory", True, "[1, 2147483647]"),  # a bool is not an integer
        ("intensity", float("nan"), "(0.0, inf]"),
        ("phi", -0.1, "[0.0, inf]"),
        ("max_inventory", 0, "[1, 2147483647]"),
    ],
)
def test_invalid_params_raise_with_field_value_and_range(field, value, text):
    with pytest.raises(ValueError) as error:
        jm.make(ENV_ID, **{field: value})
    message = str(error.value)
    assert field in message and repr(value) in message and text in message


def test_unknown_override_and_env_id():
    with pytest.raises(ValueError, match="unknown .* field.*'sigmaa'"):
        jm.make(ENV_ID, sigmaa=1.0)
    with pytest.raises(ValueError, match="not registered"):
        jm.make("jaxmarket/Nope-v0")


def test_non_finite_actions_never_reach_reward_or_observation():
    env, params = jm.make(ENV_ID, phi=0.01, alpha=0.001)
    bad = jnp.array([[jnp.nan, jnp.nan], [jnp.inf, -jnp.inf], [-jnp.inf, jnp.inf], [1e38, -1e38]])

    def policy(key, obs, state, params):
        return bad[state.time % bad.shape[0]]

    stats = jm.evaluate(env, params, policy, num_episodes=64, seed=0)
    assert np.all(np.isfinite(stats["return"])) and np.all(np.isfinite(stats["pnl"]))
    assert np.all(stats["n_invalid_actions"] == 200)


def test_nan_means_no_quote():
    """NaN depth posts at max_depth, where fills are rare: exactly as the explicit max_depth."""
    env, params = jm.make(ENV_ID)
    nan_stats = jm.evaluate(env, params, lambda k, o, s, p: jnp.array([jnp.nan, 0.5]), num_episodes=100, seed=5)
    cap_stats = jm.evaluate(env, params, lambda k, o, s, p: jnp.array([10.0, 0.5]), num_episodes=100, seed=5)
    np.testing.assert_array_equal(nan_stats["return"], cap_stats["return"])


def test_no_retracing_when_params_change():
    env, params = jm.make(ENV_ID)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(key, state, action, params):
        return env.step(key, state, action, params)

    obs, state = env.reset(jax.random.key(0), params)
    for sigma, phi in [(2.0, 0.0), (3.0, 0.01), (0.5, 1.0)]:
        p = params.replace(sigma=jnp.float32(sigma), phi=jnp.float32(phi))
        step(jax.random.key(1), state, jnp.array([0.5, 0.5]), p)
    chex.clear_trace_counter()


def test_auto_reset_and_vmap():
    env, params = jm.make(ENV_ID, max_steps_in_episode=3)
    reset_key, *step_keys = jax.random.split(jax.random.key(0), 4)
    obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(reset_key, 8), params)
    step = jax.jit(jax.vmap(env.step, (0, 0, None, None)))
    action = jnp.array([0.1, 0.1])
    for key in step_keys:
        obs, state, reward, terminated, truncated, info = step(jax.random.split(key, 8), state, action, params)
    assert np.all(np.asarray(terminated)) and np.all(np.asarray(truncated))
    assert np.all(np.asarray(state.time) == 0) and np.all(np.asarray(obs[:, 0]) == 1.0)


def test_determinism():
    env, params = jm.make(ENV_ID)
    policy = jm.random_policy(env)
    a = jm.evaluate(env, params, policy, num_episodes=50, seed=7)
    b = jm.evaluate(env, params, policy, num_episodes=50, seed=7)
    c = jm.evaluate(env, params, policy, num_episodes=50, seed=8)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["return"], c["return"])


def test_reachable_through_gymnax_make():
    env, params = gymnax.make(ENV_ID, sigma=3.0)
    assert isinstance(params, MarketMakingParams) and params.sigma == 3.0
    assert env.action_space(params).shape == (2,) and env.observation_space(params).shape == (2,)
    assert ENV_ID in jm.registered()
