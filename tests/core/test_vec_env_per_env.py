"""VecEnv with one parameter set per env: env ``i`` of a per-env batch behaves as env ``i`` of a
shared-parameter batch run under ``params[i]`` with the same keys (discrete values exactly, floats
to float32 rounding), for a multi-agent and a single-agent env, including episodes of different
lengths and the auto-reset between them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.core.vec_env import VecEnv, per_env

NUM_ENVS = 3
OTC_SIZES = {"n_lps": 2, "n_lts": 1, "n_flow": 3, "n_rounds": 4}
OTC_ENV, OTC_PARAMS = jm.make("jaxmarket/OTC-v0", **OTC_SIZES)
MM_ENV, MM_PARAMS = jm.make("jaxmarket/MarketMaking-AS-v0")
# one instance per kind, shared by the tests: a VecEnv is a static argument of its jitted functions
OTC_SHARED, OTC_PER = VecEnv(OTC_ENV, NUM_ENVS), VecEnv(OTC_ENV, NUM_ENVS, per_env_params=True)
MM_SHARED, MM_PER = VecEnv(MM_ENV, NUM_ENVS), VecEnv(MM_ENV, NUM_ENVS, per_env_params=True)


def _stack(sets):
    """A per-env batch whose env ``i`` holds ``sets[i]``."""
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(leaf) for leaf in leaves]), *sets)


def _env_slice(tree, i):
    return jax.tree.map(lambda leaf: leaf[i], tree)


def _assert_env_equal(batched, shared, i, what):
    """Env ``i`` of ``batched`` equals env ``i`` of ``shared``, leaf for leaf: integer and bool leaves
    (connectivity, tiers, rounds, trade venues, terminations) exactly, float leaves to a few float32
    ulps. Not bitwise: XLA compiles an op on a batched parameter (in_axes 0) and on a shared one
    (in_axes None) into different CPU code, which can round differently by 1 ulp (seen: 3e-7
    relative after one step, 2.4e-6 after ten)."""
    got, want = _env_slice(batched, i), _env_slice(shared, i)
    assert jax.tree.structure(got) == jax.tree.structure(want), what
    for path, a, b in zip(jax.tree_util.tree_flatten_with_path(got)[0], jax.tree.leaves(got), jax.tree.leaves(want)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what}, env {i}: {path[0]}"
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{what}, env {i}: {path[0]}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{what}, env {i}: {path[0]}")


def _otc_actions(env, seed):
    lp_key, lt_key = jax.random.split(jax.random.key(seed))
    lp = jax.random.uniform(lp_key, (NUM_ENVS, OTC_SIZES["n_lps"], env.config.n_tiers + 2), minval=-0.5, maxval=0.8)
    lt = jax.random.randint(lt_key, (NUM_ENVS, OTC_SIZES["n_lts"]), 0, env.config.n_lt_actions)
    return {"lp": lp, "lt": lt}


def _run(venv, params, steps, actions_for, seed):
    """Reset, then ``steps`` steps; every key made afresh from ``seed`` (so that two runs draw alike)."""
    outputs = [venv.reset(jax.random.key(seed), params)]
    state = outputs[0][1]
    for t in range(steps):
        out = venv.step(jax.random.key(seed + 1 + t), state, actions_for(t), params)
        outputs.append(out)
        state = out[1]
    return outputs


def test_per_env_broadcasts_every_leaf():
    env, params = OTC_ENV, OTC_PARAMS
    batch = per_env(params, 5)
    assert jax.tree.structure(batch) == jax.tree.structure(params)
    for leaf, orig in zip(jax.tree.leaves(batch), jax.tree.leaves(params)):
        assert isinstance(leaf, jax.Array)
        assert leaf.shape == (5, *np.shape(orig))
        for i in range(5):
            np.testing.assert_array_equal(leaf[i], np.asarray(orig, leaf.dtype))
    vector = per_env({"a": 2.5, "b": np.arange(3, dtype=np.float32)}, 2)
    assert vector["a"].shape == (2,) and vector["b"].shape == (2, 3)
    np.testing.assert_array_equal(vector["b"], [[0, 1, 2], [0, 1, 2]])
    with pytest.raises(ValueError, match="num_envs"):
        per_env(params, 0)
    with pytest.raises(ValueError, match="num_envs"):
        VecEnv(env, 0, per_env_params=True)


def test_per_env_broadcast_equals_shared_params():
    """``per_env(params, n)`` under ``per_env_params=True`` is the shared run, leaf for leaf."""
    env, params = OTC_ENV, OTC_PARAMS
    steps = env.episode_length(params) + 1  # across one auto-reset
    shared = _run(OTC_SHARED, params, steps, lambda t: _otc_actions(env, 50 + t), 7)
    batched = _run(OTC_PER, per_env(params, NUM_ENVS), steps,
                   lambda t: _otc_actions(env, 50 + t), 7)
    for t, (got, want) in enumerate(zip(batched, shared)):
        for i in range(NUM_ENVS):
            _assert_env_equal(got, want, i, f"step {t}")


def test_otc_env_i_runs_under_params_i():
    """Envs 0 and 2 under A, env 1 under B (other connectivity, volatility and episode length):
    each equals the shared run under its own set, through the auto-reset of B's shorter episodes."""
    env, base = OTC_ENV, OTC_PARAMS
    a = base.replace(p_connect=0.3, annual_vol=0.05)
    b = base.replace(p_connect=0.9, annual_vol=0.6, n_rounds=2)
    batch = _stack([a, b, a])
    steps = env.episode_length(a) + 2  # A's episode ends on step 8, B's on steps 4 and 8
    act = lambda t: _otc_actions(env, 200 + t)
    per = _run(OTC_PER, batch, steps, act, 11)
    under_a = _run(OTC_SHARED, a, steps, act, 11)
    under_b = _run(OTC_SHARED, b, steps, act, 11)
    for t in range(steps + 1):
        _assert_env_equal(per[t], under_a[t], 0, f"step {t}")
        _assert_env_equal(per[t], under_b[t], 1, f"step {t}")
        _assert_env_equal(per[t], under_a[t], 2, f"step {t}")

    # the parameter sets really differ where they should, so the comparisons above can fail
    state0_a, state0_b, state0_per = under_a[0][1], under_b[0][1], per[0][1]
    conn_a, conn_b = np.asarray(state0_a.connected[1]), np.asarray(state0_b.connected[1])
    assert conn_a.sum() < conn_b.sum()
    assert not (conn_a & ~conn_b).any(), "the same uniforms under a larger p_connect connect a superset"
    np.testing.assert_array_equal(state0_per.connected[1], conn_b)
    term = [np.asarray(out[3]["lp"])[:, 0] for out in per[1:]]
    ends = [t + 1 for t in range(steps) if term[t].any()]
    assert ends == [4, 8]
    np.testing.assert_array_equal(term[3], [False, True, False])  # only B's episode ends after 2 rounds
    np.testing.assert_array_equal(term[7], [True, True, True])
    np.testing.assert_array_equal(per[4][1].round, [2, 0, 2])  # env 1 restarted, the others did not
    prices_a = np.array([np.asarray(out[1].price)[0] for out in under_a[1:5]])
    prices_b = np.array([np.asarray(out[1].price)[1] for out in under_b[1:5]])
    prices_a1 = np.array([np.asarray(out[1].price)[1] for out in under_a[1:5]])
    assert not np.array_equal(prices_a1, prices_b), "env 1's price path depends on its volatility"
    ret_a = np.abs(np.diff(np.log(np.concatenate([[base.price0], prices_a1]))))
    ret_b = np.abs(np.diff(np.log(np.concatenate([[base.price0], prices_b]))))
    assert ret_b.sum() > ret_a.sum()
    assert np.isfinite(prices_a).all()


def test_single_agent_env_i_runs_under_params_i():
    """MarketMaking-AS with per-env volatility and episode lengths (3, 5, 3 steps): each env matches
    the shared run under its own set; env 1 (5 steps) is not reset when the others are."""
    base = MM_PARAMS
    a = base.replace(max_steps_in_episode=3, sigma=1.0)
    b = base.replace(max_steps_in_episode=5, sigma=4.0, intensity=60.0)
    batch = _stack([a, b, a])

    def act(t):
        return jax.random.uniform(jax.random.key(300 + t), (NUM_ENVS, 2), minval=0.0, maxval=1.5)

    steps = 7
    per = _run(MM_PER, batch, steps, act, 21)
    under_a = _run(MM_SHARED, a, steps, act, 21)
    under_b = _run(MM_SHARED, b, steps, act, 21)
    for t in range(steps + 1):
        _assert_env_equal(per[t], under_a[t], 0, f"step {t}")
        _assert_env_equal(per[t], under_b[t], 1, f"step {t}")
        _assert_env_equal(per[t], under_a[t], 2, f"step {t}")
    done = np.array([np.asarray(out[3]) | np.asarray(out[4]) for out in per[1:]])  # (steps, envs)
    np.testing.assert_array_equal(done[:, 0], [False, False, True, False, False, True, False])
    np.testing.assert_array_equal(done[:, 1], [False, False, False, False, True, False, False])
    np.testing.assert_array_equal(per[3][1].time, [0, 3, 0])
    np.testing.assert_array_equal(per[5][1].time, [2, 0, 2])
    # env 1 under B is not env 1 under A: the parameters reach the dynamics
    mid_a = np.array([np.asarray(out[1].mid_change)[1] for out in under_a[1:3]])
    mid_b = np.array([np.asarray(out[1].mid_change)[1] for out in under_b[1:3]])
    assert not np.array_equal(mid_a, mid_b)
