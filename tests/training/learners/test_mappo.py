"""Multi-agent PPO: configuration and role checks, the Stackelberg round against the env's own
quotes, episode bookkeeping, per-family normalisation, both training paths, checkpoints, seeds."""

import dataclasses

import chex
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.otc.dealer import cheapest_quote_lt_actions
from jaxmarket.otc import ecn
from jaxmarket.otc.observations import lp_index, lt_index
from jaxmarket.otc.rewards import BASIS_POINT
from training.learners import loop
from training.tasks.otc import train as otc_train
from training.learners.mappo import MAPPOConfig, make_trainer, trained_policy
from tests.keys import clone_keys

N_ROUNDS = 3
SIZES = {"n_lps": 3, "n_lts": 2, "n_flow": 3, "n_rounds": N_ROUNDS}
SMALL = MAPPOConfig(num_envs=8, num_rounds=6, total_rounds=8 * 6 * 4, update_epochs=2, num_minibatches=2,
                    hidden_sizes=(8,), updates_per_chunk=3)
ENV, PARAMS = jm.make("jaxmarket/OTC-v0", **SIZES)


@pytest.mark.parametrize("changes, field", [
    ({"num_minibatches": 3}, "num_minibatches"),
    ({"num_rounds": 0}, "num_rounds"),
    ({"total_rounds": 10}, "total_rounds"),
    ({"gamma": 1.5}, "gamma"),
    ({"clip_eps": 0.0}, "clip_eps"),
    ({"activation": "sine"}, "activation"),
    ({"learn": ("lp", "lp")}, "learn"),
])
def test_invalid_config_raises_before_compiling(changes, field, monkeypatch):
    monkeypatch.setattr(jax, "jit", lambda *a, **k: pytest.fail("compiled before checking"))
    with pytest.raises(ValueError, match=field) as error:
        make_trainer(dataclasses.replace(SMALL, **changes), ENV, PARAMS)
    assert repr(list(changes.values())[0]) in str(error.value)


def test_roles_are_checked():
    fixed_lt = {"lt": lambda key, obs, params: jnp.zeros(obs.shape[0], jnp.int32)}
    with pytest.raises(ValueError, match="'lt' is both learned"):
        make_trainer(SMALL, ENV, PARAMS, fixed_lt)
    with pytest.raises(ValueError, match="'lt' has agents but is neither"):
        make_trainer(dataclasses.replace(SMALL, learn=("lp",)), ENV, PARAMS)
    with pytest.raises(ValueError, match="family = 'dealer'"):
        make_trainer(dataclasses.replace(SMALL, learn=("dealer",)), ENV, PARAMS)
    with pytest.raises(ValueError, match="no learned family"):
        make_trainer(dataclasses.replace(SMALL, learn=("lt",)), *jm.make("jaxmarket/OTC-v0", n_lts=0, n_flow=4),
                     {"lp": lambda key, obs, params: jnp.zeros((obs.shape[0], 5))})
    with pytest.raises(ValueError, match="not a MultiAgentEnv"):
        make_trainer(SMALL, *gymnax.make("CartPole-v1"))
    with pytest.raises(ValueError, match="role of lp = 'copy'"):
        otc_train.build(SMALL, "default", SIZES, {"lp": "copy"})


def test_stackelberg_round_clients_act_on_this_rounds_quotes():
    """Each LT transition's observation holds the costs of the quotes the LPs set in the same round
    (recomputed here from the LP transitions' actions and the ECN curve), and episodes end every
    N_ROUNDS rounds with the episode return equal to the sum of the round rewards."""
    config = dataclasses.replace(SMALL, normalize_reward=False)
    trainer = make_trainer(config, ENV, PARAMS)
    runner = jax.jit(trainer.init)(jax.random.key(0))
    _, traj = jax.jit(trainer.rollout)(runner)
    lp, lt = traj["lp"], traj["lt"]
    k, n_lps = ENV.config.n_tiers, ENV.config.n_lps
    action = np.asarray(trainer.to_env["lp"](lp.action))  # (R, E, n_lps, k + 2)
    s0 = 2.0 * np.asarray(lp.raw_obs)[..., 0, lp_index("ecn_half_spread_bp")] * BASIS_POINT  # (R, E)
    lt_obs = np.asarray(lt.raw_obs)  # (R, E, n_lts, d)
    size = lt_obs[..., lt_index("size_scale", ENV.config)]
    tier = lt_obs[..., lt_index("tier", ENV.config)].astype(int)
    s_v = np.asarray(ecn.half_spread(jnp.asarray(size), jnp.asarray(s0)[..., None], PARAMS.ecn_depth,
                                     PARAMS.ecn_lambda, PARAMS.max_fill))
    checked = 0
    for j in range(n_lps):
        eps = np.take_along_axis(action[..., j, :k], tier, axis=-1)  # (R, E, n_lts)
        skew = action[..., j, k][..., None]
        expected = ((1.0 + eps) * s_v + skew * 0.5 * s0[..., None]) / BASIS_POINT
        connected = lt_obs[..., lt_index("connected", ENV.config, j)] > 0
        got = lt_obs[..., lt_index("buy_cost_bp", ENV.config, j)]
        np.testing.assert_allclose(got[connected], expected[connected], rtol=1e-4, atol=1e-4)
        checked += connected.sum()
    assert checked > 20
    done = np.asarray(lp.done)
    rounds = np.arange(config.num_rounds)
    np.testing.assert_array_equal(done[:, 0, 0], (rounds + 1) % N_ROUNDS == 0)
    assert done.all(axis=(1, 2)).tolist() == done[:, 0, 0].tolist()
    for family in ("lp", "lt"):
        t = traj[family]
        reward, ret = np.asarray(t.reward), np.asarray(t.episode_return)
        for end in np.flatnonzero(done[:, 0, 0]):
            np.testing.assert_allclose(ret[end], reward[end - N_ROUNDS + 1: end + 1].sum(axis=0), rtol=1e-5, atol=1e-4)


def test_each_family_normalises_its_own_observations():
    trainer = make_trainer(SMALL, ENV, PARAMS)
    runner = jax.jit(trainer.init)(jax.random.key(1))
    _, traj = jax.jit(trainer.rollout)(clone_keys(runner))
    updated, _ = jax.jit(trainer.update)(runner)  # the same rollout, then the update
    for family in ("lp", "lt"):
        raw = np.asarray(traj[family].raw_obs, np.float64)
        raw = raw.reshape(-1, raw.shape[-1])
        stats = updated.families[family].obs_stats
        assert stats.mean.shape == (ENV.observation_space(family, PARAMS).shape[0],)
        np.testing.assert_allclose(stats.mean, raw.mean(axis=0), rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(stats.var, raw.var(axis=0), rtol=1e-3, atol=1e-4)


def test_chunked_loop_equals_single_jit_and_checkpoint_roundtrip(tmp_path):
    roles = {"lt": "heuristic"}
    trainer = otc_train.build(SMALL, "default", SIZES, roles)
    assert trainer.learned == ("lp",) and trainer.agents_per_round == SIZES["n_lps"]
    key = jax.random.key(3)
    full = jax.jit(trainer.train)(clone_keys(key))["runner"]  # the loop below replays the same key
    runner, rows = loop.run(trainer, key, metadata=otc_train.metadata("default", SIZES, roles), out_dir=tmp_path,
                            progress=False)
    assert int(runner.update) == int(full.update) == SMALL.num_updates == 4
    assert [r["update"] for r in rows] == [3, 4] and rows[-1]["agent_steps"] == 4 * SMALL.batch_size * SIZES["n_lps"]
    assert set(runner.families) == {"lp"} and "lp_episode_return" in rows[-1] and "lt_entropy" not in rows[-1]
    a, b = jax.tree.leaves(runner.families["lp"].train_state.params), jax.tree.leaves(full.families["lp"].train_state.params)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    loaded, policy, meta = otc_train.load(tmp_path / "final")
    assert meta["roles"] == {"lp": "learn", "lt": "heuristic"} and loaded.learned == ("lp",)
    obs, state = ENV.reset(jax.random.key(0), PARAMS)
    ours = trained_policy(trainer, runner)(jax.random.key(0), obs, state, PARAMS)
    theirs = policy(jax.random.key(0), obs, state, PARAMS)
    np.testing.assert_allclose(theirs["lp"], ours["lp"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(theirs["lt"], cheapest_quote_lt_actions(obs["lt"], ENV.config, PARAMS))


def test_load_rejects_a_single_agent_checkpoint(tmp_path):
    (tmp_path / "metadata.json").write_text('{"env_id": "jaxmarket/MarketMaking-AS-v0"}')
    with pytest.raises(ValueError, match="not a multi-agent"):
        otc_train.load(tmp_path)


def test_train_vmaps_over_seeds_and_compiles_once():
    trainer = make_trainer(SMALL, ENV, PARAMS)
    keys = jax.random.split(jax.random.key(0), 2)
    batched = jax.jit(jax.vmap(trainer.train))(keys)["runner"].families
    single = jax.jit(trainer.train)(jax.random.split(jax.random.key(0), 2)[1])["runner"].families  # the same seed
    for family in ("lp", "lt"):
        for b, s in zip(jax.tree.leaves(batched[family].train_state.params),
                        jax.tree.leaves(single[family].train_state.params)):
            np.testing.assert_allclose(b[1], s, rtol=1e-4, atol=1e-5)
            assert not np.allclose(b[0], b[1])
    chunk = jax.jit(chex.assert_max_traces(trainer.chunk, n=1))
    runner = jax.jit(trainer.init)(jax.random.key(1))
    runner, _ = chunk(runner)
    runner, metrics = chunk(runner)
    assert int(runner.update) == SMALL.num_updates  # the second chunk ran 1 update and skipped 2
    assert np.asarray(metrics["lp_entropy"])[1:].tolist() == [0.0, 0.0]


def test_family_without_agents_is_skipped():
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=0, n_flow=4, n_rounds=N_ROUNDS)
    trainer = make_trainer(SMALL, env, params)
    assert trainer.learned == ("lp",)
    out = jax.jit(trainer.train)(jax.random.key(0))
    assert set(out["runner"].families) == {"lp"}
    assert np.isfinite(np.asarray(out["metrics"]["lp_value_loss"])).all()
    actions = trained_policy(trainer, out["runner"])(jax.random.key(0), *env.reset(jax.random.key(0), params), params)
    assert actions["lt"].shape == (0,)
