"""Warm starts of multi-agent PPO: a warm family's initial network and statistics are the given ones
(the others fresh), the KL anchor's loss term in closed form and its pull on a training update, a
behaviour-cloned family's checkpoint starting MAPPO with the clone's actions (through the OTC task's
``build``), and the errors naming the field."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarket as jm
from training.cli import main, parse
from training.learners import bc, mappo
from training.learners.mappo import MAPPOConfig, family_loss_fn, family_network, make_trainer
from training.learners.normalize import INITIAL_COUNT, RunningStats
from training.learners.ppo import WarmStart, observe
from training.learners.warm_start import load_family_warm_start, load_warm_start, return_stats
from training.tasks.otc import command as otc_command
from training.tasks.otc import train as otc_train
from tests.keys import clone_keys

OTC_ID = "jaxmarket/OTC-v0"
SIZES = {"n_lps": 2, "n_lts": 2, "n_flow": 2, "n_rounds": 3}
HIDDEN = (8,)
ACTIVATION = "tanh"
CONFIG = MAPPOConfig(num_envs=2, num_minibatches=1, num_rounds=3, total_rounds=6, update_epochs=4,
                     learning_rate=1e-2, hidden_sizes=HIDDEN, activation=ACTIVATION, updates_per_chunk=1)
BC_CONFIG = bc.BCConfig(hidden_sizes=HIDDEN, activation=ACTIVATION, batch_size=16, num_updates=20, updates_per_chunk=10)
HEURISTIC_LT = {"lp": otc_train.LEARN, "lt": otc_train.HEURISTIC}
STRONG_KL = 10.0  # warm_kl_coef that holds the policy near the warm start
ANCHOR_COEF = 0.7  # warm_kl_coef of the loss test
MINIBATCH = 6  # observations in the loss test's minibatch
ENV, PARAMS = jm.make(OTC_ID, **SIZES)


def fresh_warm_start(family: str, seed: int, count: float = 100.0) -> WarmStart:
    """A warm start for ``family``: a network initialised from ``seed`` and statistics unlike fresh ones."""
    network = family_network(CONFIG, ENV, PARAMS, family)
    d = ENV.observation_space(family, PARAMS).shape[0]
    net_params = network.init(jax.random.key(seed), jnp.zeros(d, jnp.float32))
    obs_stats = RunningStats(jnp.linspace(-1.0, 1.0, d), jnp.linspace(0.5, 2.0, d), jnp.asarray(count, jnp.float32))
    return WarmStart(net_params, obs_stats, RunningStats(jnp.asarray(0.3), jnp.asarray(4.0), jnp.asarray(count)))


@pytest.fixture(scope="module")
def recording():
    """Four episodes of OTC-v0 under the random policy."""
    return jm.record(ENV, PARAMS, jm.random_policy(ENV), num_episodes=4, seed=0)


@pytest.fixture(scope="module")
def cloned_lp(recording, tmp_path_factory):
    """The dealers (``lp``) behaviour-cloned from their turns of a short random OTC-v0 recording,
    checkpointed: ``(bc trainer, its runner, checkpoint directory)``."""
    data = jm.to_transitions(recording, family="lp")
    trainer = bc.make_trainer(BC_CONFIG, ENV, PARAMS, data, family="lp")
    runner = jax.jit(trainer.train)(jax.random.key(0), trainer.dataset)["runner"]
    directory = tmp_path_factory.mktemp("bc_lp") / "final"
    trainer.save(directory, runner, {"env_id": OTC_ID, "env_overrides": SIZES}, BC_CONFIG.num_updates)
    return trainer, runner, directory


@pytest.fixture(scope="module")
def warm_otc(cloned_lp):
    """MAPPO on OTC-v0 through the task's ``build``: the dealers learn from the cloned policy's checkpoint,
    the clients play cheapest-quote: ``(trainer, its initial runner)``."""
    _, _, directory = cloned_lp
    trainer = otc_train.build(CONFIG, "default", SIZES, HEURISTIC_LT, warm_start={"lp": str(directory)})
    return trainer, jax.jit(trainer.init)(jax.random.key(2))


def test_init_holds_the_warm_family_and_fresh_others():
    warm = fresh_warm_start("lp", seed=7)
    key = jax.random.key(0)
    runner = jax.jit(make_trainer(CONFIG, ENV, PARAMS, warm_start={"lp": warm}).init)(clone_keys(key))
    cold = jax.jit(make_trainer(CONFIG, ENV, PARAMS).init)(key)
    lp, lt = runner.families["lp"], runner.families["lt"]
    chex.assert_trees_all_equal(lp.train_state.params, warm.net_params)
    chex.assert_trees_all_equal(lp.obs_stats, warm.obs_stats)
    chex.assert_trees_all_equal(lp.return_stats, warm.return_stats)
    cold_lt = cold.families["lt"]  # the clients: the same fresh network and statistics as without a warm start
    chex.assert_trees_all_equal((lt.train_state.params, lt.obs_stats, lt.return_stats),
                                (cold_lt.train_state.params, cold_lt.obs_stats, cold_lt.return_stats))


def closed_form_kl(family: str, warm_params, params, obs: jax.Array) -> np.ndarray:
    """KL(warm || policy) per observation, from the distributions' parameters (not distrax's KL)."""
    network = family_network(CONFIG, ENV, PARAMS, family)
    warm_dist, _ = network.apply(warm_params, obs)
    dist, _ = network.apply(params, obs)
    if family == "lt":  # categorical: sum_a p(a) (log p(a) - log q(a))
        p, q = jax.nn.log_softmax(warm_dist.logits), jax.nn.log_softmax(dist.logits)
        return np.asarray(jnp.sum(jnp.exp(p) * (p - q), axis=-1))
    m1, s1 = np.asarray(warm_dist.loc, np.float64), np.asarray(warm_dist.scale_diag, np.float64)
    m2, s2 = np.asarray(dist.loc, np.float64), np.asarray(dist.scale_diag, np.float64)
    return np.sum(np.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5, axis=-1)


@pytest.mark.parametrize("family", ["lp", "lt"])
def test_the_anchor_adds_the_kl_to_the_warm_start_times_its_weight(family):
    config = dataclasses.replace(CONFIG, warm_kl_coef=ANCHOR_COEF)
    network = family_network(config, ENV, PARAMS, family)
    d = ENV.observation_space(family, PARAMS).shape[0]
    params_key, warm_key, obs_key, act_key, adv_key, target_key = jax.random.split(jax.random.key(1), 6)
    params = network.init(params_key, jnp.zeros(d))
    warm_params = network.init(warm_key, jnp.zeros(d))
    obs = jax.random.normal(obs_key, (MINIBATCH, d))
    dist, value = network.apply(params, obs)
    action = dist.sample(seed=act_key)
    mb = (obs, action, dist.log_prob(action), value, jax.random.normal(adv_key, (MINIBATCH,)),
          jax.random.normal(target_key, (MINIBATCH,)))
    plain, plain_parts = family_loss_fn(config, network)(params, mb)
    anchored, parts = family_loss_fn(config, network, warm_params)(params, mb)
    kl = closed_form_kl(family, warm_params, params, obs)
    assert kl.mean() > 0
    np.testing.assert_allclose(float(anchored - plain), ANCHOR_COEF * kl.mean(), rtol=1e-4, atol=1e-6)
    chex.assert_trees_all_close(parts, plain_parts)
    at_warm, _ = family_loss_fn(config, network, params)(params, mb)  # zero KL at the warm parameters
    np.testing.assert_allclose(float(at_warm), float(plain), rtol=1e-6)
    unweighted, _ = family_loss_fn(CONFIG, network, warm_params)(params, mb)  # warm_kl_coef = 0: no term
    assert float(unweighted) == float(plain)


def test_a_cloned_family_starts_mappo_with_the_clones_actions(cloned_lp, warm_otc):
    bc_trainer, bc_runner, directory = cloned_lp
    warm = load_family_warm_start(directory, CONFIG, ENV, PARAMS, "lp", env_id=OTC_ID)
    chex.assert_trees_all_equal((warm.net_params, warm.obs_stats), (bc_runner.train_state.params, bc_runner.obs_stats))
    assert warm.return_stats is None  # none in the checkpoint: fresh reward scaling
    trainer, runner = warm_otc
    obs = runner.obs["lp"]  # (num_envs, n_lps, d): what the dealers act on in the first round
    lp = runner.families["lp"]
    chex.assert_trees_all_equal(lp.return_stats, RunningStats.create())
    np.testing.assert_array_equal(mappo.family_actions(trainer, "lp", lp.train_state.params, lp.obs_stats, obs),
                                  bc_trainer.policy(bc_runner)(None, obs, None, None))
    meta = otc_train.metadata("default", SIZES, HEURISTIC_LT, {"lp": str(directory)})
    assert meta["warm_start"] == {"lp": str(directory)} and "warm_start" not in otc_train.metadata("default", SIZES, {})


def test_a_strong_anchor_keeps_the_policy_near_the_warm_start(cloned_lp, warm_otc):
    _, _, directory = cloned_lp
    trainer, runner = warm_otc  # warm_kl_coef = 0
    anchored = otc_train.build(dataclasses.replace(CONFIG, warm_kl_coef=STRONG_KL), "default", SIZES, HEURISTIC_LT,
                               warm_start={"lp": str(directory)})
    warm = runner.families["lp"]
    obs = observe(CONFIG, warm.obs_stats, runner.obs["lp"])
    # one program for both updates: the same rollout and minibatches, compiled once
    free, held = jax.jit(lambda r: (trainer.update(r)[0], anchored.update(clone_keys(r))[0]))(clone_keys(runner))
    free_kl, held_kl = (closed_form_kl("lp", warm.train_state.params, after.families["lp"].train_state.params,
                                       obs).mean() for after in (free, held))
    assert 0 < held_kl < free_kl


def test_unknown_or_fixed_families_and_wrong_networks_are_refused():
    warm = fresh_warm_start("lp", seed=0)
    with pytest.raises(ValueError, match=r"family 'dealer' is not learned.*\['lp', 'lt'\]"):
        make_trainer(CONFIG, ENV, PARAMS, warm_start={"dealer": warm})
    fixed = {"lt": otc_train.fixed_policy("lt", otc_train.HEURISTIC, ENV)}
    with pytest.raises(ValueError, match=r"family 'lt' is not learned.*\['lp'\]"):
        make_trainer(dataclasses.replace(CONFIG, learn=("lp",)), ENV, PARAMS, fixed, warm_start={"lt": warm})
    with pytest.raises(ValueError, match=r"family 'lt': warm_start\.net_params"):  # an lp network for the clients
        make_trainer(CONFIG, ENV, PARAMS, warm_start={"lt": warm})
    wider = dataclasses.replace(CONFIG, hidden_sizes=(16,))
    with pytest.raises(ValueError, match=r"family 'lp': warm_start\.net_params"):
        make_trainer(wider, ENV, PARAMS, warm_start={"lp": warm})
    short_stats = warm.replace(obs_stats=RunningStats.create((3,)))
    with pytest.raises(ValueError, match=r"family 'lp': warm_start\.obs_stats"):
        make_trainer(CONFIG, ENV, PARAMS, warm_start={"lp": short_stats})
    with pytest.raises(ValueError, match="warm_kl_coef = -1.0"):
        make_trainer(dataclasses.replace(CONFIG, warm_kl_coef=-1.0), ENV, PARAMS)


def test_checkpoints_of_another_env_family_or_network_are_refused(cloned_lp):
    _, _, directory = cloned_lp
    with pytest.raises(ValueError, match="family = 'lp' in the checkpoint.*for family 'lt'"):
        load_family_warm_start(directory, CONFIG, ENV, PARAMS, "lt")
    with pytest.raises(ValueError, match="family = 'xx'"):
        load_family_warm_start(directory, CONFIG, ENV, PARAMS, "xx")
    with pytest.raises(ValueError, match=r"env_id\), this run trains on 'jaxmarket/OTC-LP-v0'"):
        load_family_warm_start(directory, CONFIG, ENV, PARAMS, "lp", env_id="jaxmarket/OTC-LP-v0")
    with pytest.raises(ValueError, match=r"hidden_sizes = \(8,\) in the checkpoint, \(16,\) in this run's"):
        load_family_warm_start(directory, dataclasses.replace(CONFIG, hidden_sizes=(16,)), ENV, PARAMS, "lp")
    with pytest.raises(ValueError, match="activation = 'tanh' in the checkpoint"):
        load_family_warm_start(directory, dataclasses.replace(CONFIG, activation="relu"), ENV, PARAMS, "lp")
    with pytest.raises(ValueError, match="family = 'lp' in the checkpoint, a policy of one family"):
        load_warm_start(directory, CONFIG, ENV, PARAMS)
    with pytest.raises(ValueError, match=r"family 'lp' is not learned.*\['lt'\]"):
        otc_train.build(CONFIG, "default", SIZES, {"lp": otc_train.HEURISTIC}, warm_start={"lp": str(directory)})
    with pytest.raises(SystemExit, match="a policy of the 'lp' family alone"):  # not scored on its own
        main(["evaluate", "--checkpoint", str(directory)])


def test_the_command_line_takes_one_warm_start_per_family():
    config = parse(["train", "otc", "--warm-start", "lp=runs/a", "--warm-start", "lt=runs/b"])
    assert otc_command.parse_warm_starts(config.warm_start) == {"lp": "runs/a", "lt": "runs/b"}
    assert parse(["train", "otc"]).warm_start == ()
    with pytest.raises(ValueError, match="warm_start = 'runs/a': expected FAMILY=DIR"):
        otc_command.parse_warm_starts(("runs/a",))
    with pytest.raises(ValueError, match="family 'lp' given twice"):
        otc_command.parse_warm_starts(("lp=runs/a", "lp=runs/b"))


def test_a_family_s_return_statistics_run_over_each_agent_s_turns(recording):
    """return_stats(family="lp") against a loop over the recording: per episode and dealer, the rewards from
    each of its turns up to its next one, discounted from the episode's start."""
    gamma = 0.9
    data = recording
    rewards, acting = np.asarray(data.rewards["lp"], np.float64), np.asarray(data.acting["lp"])
    expected = []
    for e, length in enumerate(np.asarray(data.lengths)):
        for agent in range(rewards.shape[2]):
            turns = [t for t in range(length) if acting[e, t, agent]]
            running = 0.0
            for k, t in enumerate(turns):
                end = turns[k + 1] if k + 1 < len(turns) else length
                running = gamma * running + rewards[e, t:end, agent].sum()
                expected.append(running)
    assert len(expected) > 10 and np.std(expected) > 0
    stats = return_stats(data, gamma, "lp")
    assert float(stats.count) == pytest.approx(len(expected) + INITIAL_COUNT, rel=1e-6)
    np.testing.assert_allclose(float(stats.mean), np.mean(expected), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(stats.var), np.var(expected), rtol=1e-3)
    with pytest.raises(ValueError, match="family"):
        return_stats(data, gamma)
