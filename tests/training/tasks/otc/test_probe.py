"""Recording OTC episodes with pinned types, and policy responses: what the experiments measure with."""

import jax
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.otc.dealer import heuristic_policy
from jaxmarket.otc.types import LP_TYPE_FIELDS, LT_TYPE_FIELDS
from training.tasks.otc.evaluate import parse_grid
from training.tasks.otc.probe import pin_types, record, response

ENV, PARAMS = jm.make("jaxmarket/OTC-v0", n_lps=3, n_lts=2, n_flow=4, n_rounds=5)


def test_pins_reach_the_chosen_agents_only():
    _, state = ENV.reset(jax.random.key(0), PARAMS)
    pinned = pin_types(state, {"lp": {"gamma": 1.5}, "lt": {"size_scale": 3.0}}, {"lp": 1, "lt": 2})
    lp, lt = np.asarray(pinned.lp_types), np.asarray(pinned.client_types)
    g, size = LP_TYPE_FIELDS.index("gamma"), LT_TYPE_FIELDS.index("size_scale")
    assert lp[0, g] == 1.5 and np.array_equal(lp[1:], np.asarray(state.lp_types)[1:])
    assert (lt[:2, size] == 3.0).all() and np.array_equal(lt[2:], np.asarray(state.client_types)[2:])  # flow untouched


def test_record_pins_types_and_pairs_episodes_by_seed():
    policy = heuristic_policy(ENV)
    base = record(ENV, PARAMS, policy, num_episodes=4, seed=3)
    again = record(ENV, PARAMS, policy, num_episodes=4, seed=3)
    np.testing.assert_array_equal(base["lp_reward"], again["lp_reward"])
    assert base["lp_obs"].shape[:3] == (4, 5, 3) and base["lt_action"].shape == (4, 5, 2)
    pinned = record(ENV, PARAMS, policy, num_episodes=4, seed=3, pin={"lt": {"omega": 0.0}})
    assert (pinned["lt_types"][..., LT_TYPE_FIELDS.index("omega")] == 0.0).all()
    assert pinned["lt_types"].shape == (4, 2, len(LT_TYPE_FIELDS))
    np.testing.assert_array_equal(pinned["lp_types"], base["lp_types"])  # same draws elsewhere


@pytest.mark.parametrize("kwargs, text", [
    ({"pin": {"dealer": {"gamma": 1.0}}}, "pin family = 'dealer'"),
    ({"pin": {"lp": {"beta": 1.0}}}, "pin field of lp = 'beta'"),
    ({"pin": {"lp": {"omega": 2.0}}}, "lp.omega = 2.0"),
    ({"pin": {"lt": {"omega": 1.0}}, "agents": {"lt": 3}}, "agents['lt'] = 3"),
    ({"num_episodes": 0}, "num_episodes = 0"),
])
def test_record_rejects_bad_pins(kwargs, text):
    with pytest.raises(ValueError, match=text.replace("[", r"\[").replace("]", r"\]")):
        record(ENV, PARAMS, heuristic_policy(ENV), **{"num_episodes": 2, **kwargs})


def test_response_sets_one_column():
    obs = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = response(lambda o: o[..., 1:3] * 2.0, obs, column=2, values=np.array([-1.0, 5.0]))
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out[:, :, 1], [[-2.0] * 3, [10.0] * 3])
    np.testing.assert_array_equal(out[0, :, 0], 2.0 * obs[:, 1])


def test_grid_values_are_checked_against_the_type_bounds():
    assert parse_grid(["lp.gamma=0,1.5", "lt.omega=1"]) == {"lp.gamma": [0.0, 1.5], "lt.omega": [1.0]}
    with pytest.raises(ValueError, match="grid lp.omega"):
        parse_grid(["lp.omega=0.5,2"])
    with pytest.raises(ValueError, match="grid lt.gamma"):
        parse_grid(["lt.gamma=nan"])
