"""The analytic policies against their own theory."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import jaxmarket as jm
from jaxmarket.baselines import (
    avellaneda_stoikov,
    cartea_jaimungal,
    cartea_jaimungal_value,
    policy_value,
    tabulate_policy,
)
from jaxmarket.baselines.cartea_jaimungal import optimal_depths, value_table
from jaxmarket.envs.market_making import MarketMakingParams

ENV_ID = "jaxmarket/MarketMaking-AS-v0"
PHI, ALPHA = 0.01, 0.001
EPISODES = 10_000
Z = 4.0  # Monte-Carlo tolerance in standard errors: a false alarm about once in 16,000 runs


def hjb_reference(phi, alpha, params, t):
    """h(t, q) by integrating the nonlinear HJB of the criterion backwards with an adaptive ODE
    solver, written from the optimality conditions rather than the matrix-exponential solution:
    dh/dt = phi q^2 - (A / (k e)) [exp(k (h(q-1) - h(q))) 1{q > -Q} + exp(k (h(q+1) - h(q))) 1{q < Q}]."""
    k, rate = params.decay, params.intensity
    q = np.arange(-params.max_inventory, params.max_inventory + 1)

    def rhs(_, h):
        up = np.zeros_like(h)
        down = np.zeros_like(h)
        down[1:] = np.exp(k * (h[:-1] - h[1:]))
        up[:-1] = np.exp(k * (h[1:] - h[:-1]))
        return phi * q**2 - rate / (k * np.e) * (up + down)

    sol = solve_ivp(rhs, (params.horizon, t), -alpha * q**2, rtol=1e-10, atol=1e-10, method="LSODA")
    return sol.y[:, -1]


@pytest.mark.parametrize("phi, alpha", [(0.01, 0.001), (0.0, 0.0), (0.1, 0.05)])
def test_closed_form_solves_the_hjb(phi, alpha):
    params = MarketMakingParams(phi=phi, alpha=alpha, max_inventory=10)
    for t in (0.0, 0.5, 0.9):
        expected = hjb_reference(phi, alpha, params, t)
        got = cartea_jaimungal_value(t, np.arange(-10, 11), phi, alpha, max_inventory=10)
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-7)
    table = value_table(params)  # the per-step table matches the direct closed form
    np.testing.assert_allclose(table[100], cartea_jaimungal_value(0.5, np.arange(-10, 11), phi, alpha, max_inventory=10),
                               rtol=1e-10)


def test_optimal_depths_are_symmetric_and_skew_against_inventory():
    params = MarketMakingParams(phi=PHI, alpha=ALPHA)
    depths = optimal_depths(value_table(params)[:-1], params)
    np.testing.assert_allclose(depths[:, ::-1, 0], depths[:, :, 1], atol=1e-9)  # bid(q) = ask(-q)
    centre = params.max_inventory
    assert np.all(np.diff(depths[0, centre - 10: centre + 11, 0]) > 0)  # long: bid further away
    assert depths[0, -1, 0] == params.max_depth and depths[0, 0, 1] == params.max_depth  # no quote at the bounds
    assert np.all(depths[:, centre] >= 1.0 / params.decay)  # at q = 0 a penalty only widens the 1/k quote


def test_cartea_jaimungal_monte_carlo_matches_closed_form():
    """MC mean of the criterion vs the closed-form h(0, 0).

    The env is the discrete-time version of the model (fills per step with probability
    A exp(-k delta) dt), so its exact expectation differs from h(0, 0) by a time-step bias of order dt.
    That bias is computed exactly by dynamic programming on the discrete chain (policy_value), so:
    |MC - DP| <= Z s.e. (pure Monte-Carlo error), and |MC - h(0,0)| <= Z s.e. + |DP - h(0,0)|.
    """
    env, params = jm.make(ENV_ID, phi=PHI, alpha=ALPHA)
    policy = cartea_jaimungal(PHI, ALPHA)
    stats = jm.evaluate(env, params, policy, num_episodes=EPISODES, seed=11)
    mean, se = stats["return"].mean(), stats["return"].std(ddof=1) / np.sqrt(EPISODES)
    exact = policy_value(tabulate_policy(env, params, policy), params)[0, params.max_inventory]
    h00 = cartea_jaimungal_value(0.0, 0, PHI, ALPHA)
    bias = exact - h00
    assert abs(mean - exact) <= Z * se
    assert abs(mean - h00) <= Z * se + abs(bias)
    assert abs(bias) / h00 < 0.005  # the time-step correction is small at 200 steps


def test_time_step_bias_vanishes_at_first_order():
    """The discrete-time value of the CJ policy converges to h(0, 0) as dt -> 0, like dt."""
    h00 = cartea_jaimungal_value(0.0, 0, PHI, ALPHA, max_inventory=20)
    gaps = []
    for steps in (200, 400, 800):
        env, params = jm.make(ENV_ID, phi=PHI, alpha=ALPHA, max_inventory=20, max_steps_in_episode=steps)
        table = tabulate_policy(env, params, cartea_jaimungal(PHI, ALPHA, max_inventory=20, max_steps_in_episode=steps))
        gaps.append(policy_value(table, params)[0, 20] - h00)
    ratios = gaps[0] / gaps[1], gaps[1] / gaps[2]
    assert all(1.8 < r < 2.2 for r in ratios), (gaps, ratios)


@pytest.mark.parametrize("strategy", ["inventory", "symmetric"])
def test_avellaneda_stoikov_monte_carlo_matches_exact_value(strategy):
    env, params = jm.make(ENV_ID)
    policy = avellaneda_stoikov(0.1, strategy)
    stats = jm.evaluate(env, params, policy, num_episodes=EPISODES, seed=12)
    mean, se = stats["return"].mean(), stats["return"].std(ddof=1) / np.sqrt(EPISODES)
    exact = policy_value(tabulate_policy(env, params, policy), params)[0, params.max_inventory]
    assert abs(mean - exact) <= Z * se


def test_avellaneda_stoikov_depths_by_hand():
    """gamma = 0.1, sigma = 2, k = 1.5, T - t = 0.5, q = 3: reservation offset q gamma sigma^2 tau = 0.6;
    spread = 0.2 + 20 ln(1 + 0.1/1.5) = 1.4908; bid depth = 0.6 + 0.7454, ask depth = -0.6 + 0.7454."""
    env, params = jm.make(ENV_ID)
    _, state = env.reset(None, params)
    state = state.replace(time=100, inventory=3)
    bid, ask = np.asarray(avellaneda_stoikov(0.1)(None, None, state, params))
    half = 0.5 * (0.2 + 20 * np.log(1 + 0.1 / 1.5))
    np.testing.assert_allclose([bid, ask], [0.6 + half, half - 0.6], rtol=1e-5)
    sym = np.asarray(avellaneda_stoikov(0.1, "symmetric")(None, None, state, params))
    np.testing.assert_allclose(sym, [half, half], rtol=1e-5)


def test_optimal_policy_beats_the_heuristics_exactly():
    env, params = jm.make(ENV_ID, phi=PHI, alpha=ALPHA)
    value = lambda policy: policy_value(tabulate_policy(env, params, policy), params)[0, params.max_inventory]  # noqa: E731
    best = value(cartea_jaimungal(PHI, ALPHA))
    for gamma in (0.01, 0.1, 0.5):
        for strategy in ("inventory", "symmetric"):
            assert best > value(avellaneda_stoikov(gamma, strategy))


@pytest.mark.parametrize("call, field", [
    (lambda: avellaneda_stoikov(0.0), "gamma"),
    (lambda: avellaneda_stoikov(0.1, "greedy"), "strategy"),
    (lambda: cartea_jaimungal(-0.1, 0.0), "phi"),
    (lambda: cartea_jaimungal_value(0.0, 0, 0.01, 0.001, sigma=-1.0), "sigma"),
    (lambda: cartea_jaimungal_value(2.0, 0, 0.01, 0.001), "t"),
    (lambda: cartea_jaimungal_value(0.0, 99, 0.01, 0.001), "inventory"),
])
def test_baseline_arguments_are_checked(call, field):
    with pytest.raises(ValueError, match=field):
        call()
