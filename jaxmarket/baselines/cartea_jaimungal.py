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
    """The checked model: the env's defaults with ``overrides`` and the criterion ``(phi, alpha)``."""
    check_range("phi", phi, 0.0)
    check_range("alpha", alpha, 0.0)
    params = MarketMakingParams(**{**overrides, "phi": phi, "alpha": alpha})
    params.check()
    return params


def generator(params: MarketMakingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear system of the closed form (Cartea–Jaimungal 2015, ch. 10.2; module docstring).

    Args:
        params: the model.

    Returns:
        ``(q, M, z)``, float64: the inventory grid ``-Q..Q`` (2Q + 1,), the tridiagonal matrix
        ``M`` (2Q + 1, 2Q + 1) and the terminal vector ``z_q = exp(-alpha k q^2)`` (2Q + 1,).
    """
    q = np.arange(-int(params.max_inventory), int(params.max_inventory) + 1, dtype=np.float64)
    k, rate = float(params.decay), float(params.intensity) * np.exp(-1.0)
    matrix = np.diag(-float(params.phi) * k * q**2)
    matrix += np.diag(np.full(q.size - 1, rate), 1) + np.diag(np.full(q.size - 1, rate), -1)
    return q, matrix, np.exp(-float(params.alpha) * k * q**2)


def value_table(params: MarketMakingParams) -> np.ndarray:
    """The closed-form value ``h(t_n, q) = ln(w(t_n))_q / k`` at the env's step times ``t_n = n dt``,
    by repeated products with ``expm(M dt)``.

    Args:
        params: the model.

    Returns:
        ``(steps + 1, 2Q + 1)`` float64, price units; row ``n`` is ``t_n``, column ``j`` is ``q = j - Q``.
    """
    q, matrix, z = generator(params)
    steps = int(params.max_steps_in_episode)
    one_step = scipy.linalg.expm(matrix * float(params.horizon) / steps)
    omega = np.empty((steps + 1, q.size))
    omega[steps] = z
    for n in range(steps - 1, -1, -1):  # w(t_n) = expm(M dt) w(t_{n+1}): products of positives
        omega[n] = one_step @ omega[n + 1]
    return np.log(omega) / float(params.decay)


def optimal_depths(h: np.ndarray, params: MarketMakingParams) -> np.ndarray:
    """The optimal depths ``delta_b = 1/k - (h(q + 1) - h(q))``, ``delta_a = 1/k - (h(q - 1) - h(q))``.

    Args:
        h: values ``(..., 2Q + 1)`` over the inventory grid, price units.
        params: the model (``decay`` = k and ``max_depth`` are read).

    Returns:
        ``(..., 2Q + 1, 2)`` float64 depths (bid, ask) in price units, clipped to
        ``[0, max_depth]``; no bid at ``q = Q`` and no ask at ``q = -Q`` (depth ``max_depth``).
    """
    inv_k, cap = 1.0 / float(params.decay), float(params.max_depth)
    bid = np.full(h.shape, cap)
    ask = np.full(h.shape, cap)
    bid[..., :-1] = inv_k - (h[..., 1:] - h[..., :-1])
    ask[..., 1:] = inv_k - (h[..., :-1] - h[..., 1:])
    return np.clip(np.stack([bid, ask], axis=-1), 0.0, cap)


def cartea_jaimungal_value(t: Any, inventory: Any, phi: float, alpha: float, **model: Any) -> Any:
    """The closed-form value ``h(t, q) = ln(expm(M (T - t)) z)_q / k`` (Cartea–Jaimungal 2015, ch.
    10.2; module docstring).

    Args:
        t: time in time units, in ``[0, horizon]``; any shape.
        inventory: integer inventory in ``[-max_inventory, max_inventory]``, broadcast with ``t``.
        phi: running inventory penalty, >= 0, per unit^2 per time unit.
        alpha: terminal inventory penalty, >= 0, per unit^2.
        **model: overrides of the env's default model (any ``MarketMakingParams`` field).

    Returns:
        ``h`` in price units: a float for scalar inputs, else a float64 array of the broadcast shape.

    Raises:
        ValueError: ``phi`` or ``alpha`` negative, an invalid model field, or ``t`` or
            ``inventory`` out of range.
    """
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
    """The optimal policy for the criterion ``(phi, alpha)`` (Cartea–Jaimungal 2015, ch. 10.2):
    the depths of ``optimal_depths`` over ``value_table``, tabulated once. Use it with env
    parameters of the same model; it reads time and inventory from the state.

    Args:
        phi: running inventory penalty, >= 0, per unit^2 per time unit.
        alpha: terminal inventory penalty, >= 0, per unit^2.
        **model: overrides of the env's default model (any ``MarketMakingParams`` field).

    Returns:
        ``act(key, obs, state, params) -> (2,)`` float32 depths ``(delta_b, delta_a)`` for
        ``jaxmarket.evaluate`` on ``MarketMaking-AS-v0``.

    Raises:
        ValueError: ``phi`` or ``alpha`` negative, or an invalid model field.
    """
    params = _model(phi, alpha, model)
    table = jnp.asarray(optimal_depths(value_table(params)[:-1], params), jnp.float32)
    max_inventory = int(params.max_inventory)

    def act(key: jax.Array, obs: Any, state: Any, env_params: Any) -> jax.Array:
        del key, obs, env_params
        step = jnp.clip(state.time, 0, table.shape[0] - 1)
        return table[step, state.inventory + max_inventory]

    return act
