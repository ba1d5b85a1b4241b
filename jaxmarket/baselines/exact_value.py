"""Exact expected return of a Markov quoting policy on ``MarketMaking-AS-v0``, by backward
induction over (step, inventory): no Monte-Carlo error.

For depths ``delta(n, q)`` the discrete-time value is ``V_N = 0`` and

    V_n(q) = sum_{b, a in {0, 1}} P(b) P(a) [b delta_b + a delta_a - phi dt q'^2
             - 1{n = N - 1} alpha q'^2 + V_{n+1}(q')],    q' = q + b - a,

with ``P(b = 1) = min(1, A exp(-k delta_b) dt) 1{q < Q}`` (likewise for the ask at ``q > -Q``).
The mid-price term ``q' dS`` has mean zero and drops out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core.evaluate import Policy
from jaxmarket.core.keys import seed_key
from jaxmarket.envs.market_making import MarketMaking, MarketMakingParams, sanitize_action


def tabulate_policy(env: MarketMaking, params: MarketMakingParams, policy: Policy, seed: int = 0) -> np.ndarray:
    """The depths that ``policy`` posts at each step and inventory, with the mid at ``s0``.

    Args:
        env: the ``MarketMaking`` env.
        params: its parameters.
        policy: ``act(key, obs, state, params) -> (2,)`` depths; a stochastic policy is sampled
            once per cell.
        seed: the seed of the reset and of the policy's keys.

    Returns:
        ``(steps, 2Q + 1, 2)`` float64 depths (bid, ask) in price units, as the env applies them
        (``sanitize_action``: clipped to ``[0, max_depth]``, NaN as ``max_depth``); row ``n`` is
        step ``n``, column ``j`` is inventory ``j - Q``.
    """
    steps, cap = int(params.max_steps_in_episode), int(params.max_inventory)
    reset_key, policy_key = jax.random.split(seed_key(seed))
    _, base = env.reset_env(reset_key, params)

    def cell(key: jax.Array, time: jax.Array, inventory: jax.Array) -> jax.Array:
        state = base.replace(time=time, inventory=inventory)
        action = policy(key, env.get_obs(state, params), state, params)
        return sanitize_action(action, params)[0]

    times, inventories = jnp.meshgrid(jnp.arange(steps), jnp.arange(-cap, cap + 1), indexing="ij")
    keys = jax.random.split(policy_key, times.size)
    depths = jax.jit(jax.vmap(cell))(keys, times.ravel(), inventories.ravel())
    return np.asarray(depths, np.float64).reshape(steps, 2 * cap + 1, 2)


def policy_value(depths: np.ndarray, params: MarketMakingParams) -> np.ndarray:
    """The exact expected return ``V_n(q)`` of a Markov quoting policy, by the backward induction of
    the module docstring.

    Args:
        depths: ``(steps, 2Q + 1, 2)`` depths (bid, ask) in price units, e.g. from ``tabulate_policy``.
        params: the env parameters.

    Returns:
        ``(steps + 1, 2Q + 1)`` float64, price units: ``V_n(q)`` at row ``n``, column ``q + Q``;
        ``V_N = 0``.

    Raises:
        ValueError: ``depths`` is not of shape ``(steps, 2Q + 1, 2)``.
    """
    steps, cap = int(params.max_steps_in_episode), int(params.max_inventory)
    if depths.shape != (steps, 2 * cap + 1, 2):
        raise ValueError(f"depths.shape = {depths.shape}: expected {(steps, 2 * cap + 1, 2)}")
    dt = float(params.horizon) / steps
    q = np.arange(-cap, cap + 1)
    prob = np.clip(float(params.intensity) * np.exp(-float(params.decay) * depths) * dt, 0.0, 1.0)
    prob[:, -1, 0] = 0.0  # no bid fill at q = Q
    prob[:, 0, 1] = 0.0  # no ask fill at q = -Q
    value = np.zeros((steps + 1, q.size))
    for n in range(steps - 1, -1, -1):
        penalty = float(params.phi) * dt + (float(params.alpha) if n == steps - 1 else 0.0)
        total = np.zeros(q.size)
        for b in (0, 1):
            for a in (0, 1):
                weight = (prob[n, :, 0] if b else 1 - prob[n, :, 0]) * (prob[n, :, 1] if a else 1 - prob[n, :, 1])
                index = np.clip(np.arange(q.size) + b - a, 0, q.size - 1)  # weight is 0 off the grid
                q_next = q[index]
                gain = b * depths[n, :, 0] + a * depths[n, :, 1] - penalty * q_next**2 + value[n + 1, index]
                total += weight * gain
        value[n] = total
    return value
