"""The Cartea–Jaimungal closed-form optimal market maker (Algorithmic and High-Frequency
Trading, 2015, ch. 10.2) for ``MarketMaking-AS-v0``.

The agent maximises ``E[X_T + q_T (S_T - alpha q_T) - phi int_0^T q_u^2 du]`` with fills at rate
``A exp(-k delta)`` per side and ``|q| <= Q``. With ``H = x + q S + h(t, q)``, ``h = ln(w) / k``
where ``w(t) = expm(M (T - t)) z``: ``M`` is tridiagonal over the inventory grid ``-Q..Q`` with
diagonal ``-phi k q^2`` and off-diagonals ``A e^-1`` (between neighbours on the grid), and
``z_q = exp(-alpha k q^2)``. Optimal depths:

    delta_a(t, q) = 1/k - (h(t, q - 1) - h(t, q))    (no ask at q = -Q)
    delta_b(t, q) = 1/k - (h(t, q + 1) - h(t, q))    (no bid at q = Q)

"No quote" is posted as ``max_depth``; depths are clipped to ``[0, max_depth]``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from jaxmarket.core.evaluate import Policy
from jaxmarket.core.validation import check_range
from jaxmarket.envs.market_making import MarketMakingParams


def _model(phi: float, alpha: float, overrides: dict[str, Any]) -> MarketMakingParams:
    check_range("phi", phi, 0.0)
    check_range("alpha", alpha, 0.0)
    params = MarketMakingParams(**{**overrides, "phi": phi, "alpha": alpha})
    params.check()
    return params


def generator(params: MarketMakingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inventory grid ``q`` (2Q+1,), the matrix ``M`` and the terminal vector ``z`` (float64)."""
    q = np.arange(-int(params.max_inventory), int(params.max_inventory) + 1, dtype=np.float64)
    k, rate = float(params.decay), float(params.intensity) * np.exp(-1.0)
    matrix = np.diag(-float(params.phi) * k * q**2)
    matrix += np.diag(np.full(q.size - 1, rate), 1) + np.diag(np.full(q.size - 1, rate), -1)
    return q, matrix, np.exp(-float(params.alpha) * k * q**2)


def value_table(params: MarketMakingParams) -> np.ndarray:
    """``h(t_n, q)`` at the env's step times ``t_n = n dt``, shape (steps + 1, 2Q + 1), float64."""
    q, matrix, z = generator(params)
    steps = int(params.max_steps_in_episode)
    one_step = scipy.linalg.expm(matrix * float(params.horizon) / steps)
    omega = np.empty((steps + 1, q.size))
    omega[steps] = z
    for n in range(steps - 1, -1, -1):  # w(t_n) = expm(M dt) w(t_{n+1}): products of positives
        omega[n] = one_step @ omega[n + 1]
    return np.log(omega) / float(params.decay)


def optimal_depths(h: np.ndarray, params: MarketMakingParams) -> np.ndarray:
    """Depths ``(..., 2Q + 1, 2)`` (bid, ask) from values ``h (..., 2Q + 1)``."""
    inv_k, cap = 1.0 / float(params.decay), float(params.max_depth)
    bid = np.full(h.shape, cap)
    ask = np.full(h.shape, cap)
    bid[..., :-1] = inv_k - (h[..., 1:] - h[..., :-1])
    ask[..., 1:] = inv_k - (h[..., :-1] - h[..., 1:])
    return np.clip(np.stack([bid, ask], axis=-1), 0.0, cap)


def cartea_jaimungal_value(t: Any, inventory: Any, phi: float, alpha: float, **model: Any) -> Any:
    """The closed-form value ``h(t, q)`` (price units) for the env's default model with ``model``
    overrides (any ``MarketMakingParams`` field). ``t`` in time units in ``[0, horizon]``;
    ``inventory`` integer in ``[-max_inventory, max_inventory]``; broadcast together."""
    params = _model(phi, alpha, model)
    check_range("t", t, 0.0, float(params.horizon))
    check_range("inventory", inventory, -int(params.max_inventory), int(params.max_inventory))
    q, matrix, z = generator(params)
    t, inventory = np.broadcast_arrays(np.asarray(t, np.float64), np.asarray(inventory))
    out = np.empty(t.shape)
    for index in np.ndindex(t.shape):
        omega = scipy.linalg.expm(matrix * (float(params.horizon) - t[index])) @ z
        out[index] = np.log(omega[int(inventory[index]) + int(params.max_inventory)]) / float(params.decay)
    return float(out) if out.ndim == 0 else out


def cartea_jaimungal(phi: float, alpha: float, **model: Any) -> Policy:
    """The optimal policy for criterion ``(phi, alpha)`` on the env's default model with ``model``
    overrides; use it with parameters of the same model. Reads time and inventory from the state."""
    params = _model(phi, alpha, model)
    table = jnp.asarray(optimal_depths(value_table(params)[:-1], params), jnp.float32)
    max_inventory = int(params.max_inventory)

    def act(key: jax.Array, obs: Any, state: Any, env_params: Any) -> jax.Array:
        del key, obs, env_params
        step = jnp.clip(state.time, 0, table.shape[0] - 1)
        return table[step, state.inventory + max_inventory]

    return act
