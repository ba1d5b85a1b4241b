"""The PettingZoo adapter: PettingZoo's own parallel API and seed tests on OTC-v0 with 2 and 4
LPs, the same numbers as the JAX env for the same seed and actions, the turn order, and clear errors."""

import gymnasium
import jax
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test
from pettingzoo.test.seed_test import parallel_seed_test

import jaxmarket as jm
from jaxmarket.interop import to_pettingzoo
from jaxmarket.otc import SIMULTANEOUS

N_ROUNDS = 6  # rounds per episode (two phases each: LPs quote, then the clients choose)
N_LTS = 3


@pytest.fixture(scope="module", params=[2, 4], ids=["2_lps", "4_lps"])
def otc(request):
    return jm.make("jaxmarket/OTC-v0", n_lps=request.param, n_lts=N_LTS, n_rounds=N_ROUNDS)


@pytest.mark.filterwarnings("error")
def test_pettingzoo_parallel_api_and_seed_tests_pass(otc):
    env, params = otc
    parallel_api_test(to_pettingzoo(env, params), num_cycles=3 * N_ROUNDS)
    parallel_seed_test(lambda: to_pettingzoo(env, params), num_cycles=3 * N_ROUNDS)


def test_agents_are_named_per_family_with_their_spaces(otc):
    env, params = otc
    zoo = to_pettingzoo(env, params)
    n = env.num_agents["lp"]
    assert zoo.possible_agents == [f"lp_{i}" for i in range(n)] + [f"lt_{i}" for i in range(N_LTS)]
    assert zoo.observation_space("lp_0").shape == env.observation_space("lp", params).shape
    assert zoo.action_space(f"lt_{N_LTS - 1}") == gymnasium.spaces.Discrete(2 * n + 3)
    assert zoo.action_space("lp_0") is not zoo.action_space("lp_1"), "one space object per agent (seeded apart)"


def test_a_whole_episode_equals_the_jax_env_and_follows_the_turn_order(otc):
    env, params = otc
    zoo = to_pettingzoo(env, params)
    observations, infos = zoo.reset(seed=3)
    key = jax.random.key(3)
    key, sub = jax.random.split(key)
    obs_jax, state = env.reset(sub, params)
    for i, a in enumerate(zoo.possible_agents):
        zoo.action_space(a).seed(i)
    steps = 0
    while zoo.agents:
        acting = zoo.acting_agents
        families = {a.split("_")[0] for a in acting}  # Stackelberg: one whole family acts at a time
        assert len(families) == 1
        family = families.pop()
        assert acting == [a for a in zoo.possible_agents if a.startswith(family)]
        assert all(infos[a]["acting"] == (a in acting) for a in zoo.possible_agents)
        for f in env.families:
            for i in range(env.num_agents[f]):
                np.testing.assert_array_equal(observations[f"{f}_{i}"], obs_jax[f][i])
        actions = {a: zoo.action_space(a).sample() for a in acting}  # the others left out
        jax_actions = {f: np.stack([actions.get(f"{f}_{i}", np.zeros(zoo.action_space(f"{f}_0").shape,
                                                                      zoo.action_space(f"{f}_0").dtype))
                                    for i in range(env.num_agents[f])]) for f in env.families}
        jax_actions["lt"] = jax_actions["lt"].astype(np.int32)
        key, sub = jax.random.split(key)
        obs_jax, state, rewards_jax, terminated_jax, _, info_jax = env.step(sub, state, jax_actions, params)
        observations, rewards, terminations, truncations, infos = zoo.step(actions)
        obs_jax = info_jax["final_observation"]
        for f in env.families:
            for i in range(env.num_agents[f]):
                assert rewards[f"{f}_{i}"] == float(rewards_jax[f][i])
                assert terminations[f"{f}_{i}"] == bool(terminated_jax[f][i])
                assert truncations[f"{f}_{i}"] is False
        steps += 1
    assert steps == 2 * N_ROUNDS
    for name, value in info_jax["metrics"].items():
        for a in zoo.possible_agents:
            np.testing.assert_array_equal(infos[a]["episode_metrics"][name], value)
    with pytest.raises(gymnasium.error.ResetNeeded):
        zoo.step({})


def test_bad_actions_are_refused_naming_what_was_expected(otc):
    env, params = otc
    zoo = to_pettingzoo(env, params)
    zoo.reset(seed=0)
    n_actions = env.config.n_tiers + 2
    with pytest.raises(ValueError, match=r"actions lacks agents \['lp_1'"):
        zoo.step({"lp_0": np.ones(n_actions, np.float32)})
    good = {a: np.ones(n_actions, np.float32) for a in zoo.acting_agents}
    with pytest.raises(ValueError, match=r"not in possible_agents"):
        zoo.step({**good, "dealer_9": np.ones(n_actions, np.float32)})
    with pytest.raises(ValueError, match=rf"actions\['lp_0'\] has shape \(2,\): expected shape \({n_actions},\)"):
        zoo.step({**good, "lp_0": np.ones(2, np.float32)})
    with pytest.raises(ValueError, match=r"actions\['lt_0'\] has dtype float64: expected integers"):
        zoo.step({**good, "lt_0": 1.5})  # a non-acting agent's action is still checked
    with pytest.raises(ValueError, match="expected a dict keyed by agent name"):
        zoo.step([1, 2])


def test_dealers_alone_simultaneous_pass_the_api_test_and_match_the_jax_env():
    """The SuperSuit route: no RL clients (a family without agents), every step a dealer step."""
    env, params = jm.make("jaxmarket/OTC-v0", n_lps=2, n_lts=0, turn_order=SIMULTANEOUS, n_rounds=N_ROUNDS)
    zoo = to_pettingzoo(env, params)
    assert set(zoo.reset()[0]) == {"lp_0", "lp_1"}  # the first reset without a seed draws one
    parallel_api_test(zoo, num_cycles=N_ROUNDS + 1)
    zoo.reset(seed=1)
    key = jax.random.split(jax.random.key(1))[0]
    _, state = env.reset(jax.random.split(jax.random.key(1))[1], params)
    for _ in range(N_ROUNDS):
        assert zoo.acting_agents == ["lp_0", "lp_1"]
        actions = {a: zoo.action_space(a).sample() for a in zoo.acting_agents}
        rewards = zoo.step(actions)[1]
        key, sub = jax.random.split(key)
        _, state, rewards_jax, *_ = env.step(sub, state, {"lp": np.stack([actions["lp_0"], actions["lp_1"]]),
                                                          "lt": np.zeros((0,), np.int32)}, params)
        assert [rewards["lp_0"], rewards["lp_1"]] == np.asarray(rewards_jax["lp"]).tolist()
    assert zoo.agents == []


def test_a_single_agent_env_or_unknown_agent_is_refused():
    with pytest.raises(ValueError, match="not a jaxmarket MultiAgentEnv: use jaxmarket.interop.to_gymnasium"):
        to_pettingzoo("jaxmarket/MarketMaking-AS-v0")
    with pytest.raises(ValueError, match="agent = 'lp_9' is not one of possible_agents"):
        to_pettingzoo("jaxmarket/OTC-v0").observation_space("lp_9")
