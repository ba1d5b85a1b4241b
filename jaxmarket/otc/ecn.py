"""The exchange (ECN): its spread draw and its cost curve.

Prices are relative to the reference (mid) price ``P``, the same on both sides. Each round the ECN
spread ``s0`` is redrawn from ``Normal(mean, std)`` clipped to ``[low, high]``. With
``u = v / v_max`` (the traded size ``v`` over the ECN depth ``v_max``) and the curve exponent
``lam`` (``omega = (lam - 1) / (lam - 2)``), the half-spread paid for size ``v`` is

    S_ref(v) = (s0 / 2) (omega / u) (1 - (1 - u)^(1 / omega)),   S_ref(0) = s0 / 2,

and for ``lam = 2`` the limit ``-(s0 / 2) ln(1 - u) / u``. Buying ``v`` costs ``v P (1 + S_ref(v))``;
selling ``v`` yields ``v P (1 - S_ref(v))``. Sizes are capped at ``max_fill * v_max`` so the curve
stays finite.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LAMBDA_TWO_TOLERANCE = 1e-6  # |1/omega| below this uses the lam = 2 limit
SMALL_U = 1e-4  # below this u (1 + |1/omega|), the first-order expansion 1 + (1 - 1/omega) u / 2 (error O(SMALL_U^2))


def draw_spread(key: jax.Array, mean: jax.Array, std: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """One ECN spread ``s0``: Normal(mean, std) clipped to ``[low, high]``.

    Args:
      key: a typed PRNG key (one standard normal draw).
      mean, std: the normal's mean and standard deviation (relative to the mid).
      low, high: the clip range (relative to the mid).

    Returns:
      A float32 scalar, the relative spread.
    """
    return jnp.clip(mean + std * jax.random.normal(key, (), jnp.float32), low, high)


def curve_ratio(u: jax.Array, lam: jax.Array) -> jax.Array:
    """``S_ref(v) / S_ref(0)``, the ECN curve's ratio: 1 at ``u = 0``, increasing in ``u``.

    Written with ``log1p``/``expm1``, and expanded to first order where ``u (1 + |1/omega|)`` is
    below ``SMALL_U`` (which covers denormal float32 sizes), so it is accurate and finite for
    every ``u`` and ``lam > 1``.

    Args:
      u: ``v / v_max`` in ``[0, 1)``, any shape (cast to float32).
      lam: the curve exponent (> 1); ``lam = 2`` uses the limit ``-ln(1 - u) / u``.

    Returns:
      float32, the shape of ``u``: the dimensionless ratio.
    """
    u = jnp.asarray(u, jnp.float32)
    inv_omega = (lam - 2.0) / (lam - 1.0)
    small = u * (1.0 + jnp.abs(inv_omega)) < SMALL_U
    safe_u = jnp.where(small, 1.0, u)
    log_rest = jnp.log1p(-safe_u)
    near_two = jnp.abs(inv_omega) < LAMBDA_TWO_TOLERANCE
    safe_inv = jnp.where(near_two, 1.0, inv_omega)
    general = -jnp.expm1(safe_inv * log_rest) / (safe_inv * safe_u)
    limit = -log_rest / safe_u
    expansion = 1.0 + 0.5 * (1.0 - inv_omega) * u
    return jnp.where(small, expansion, jnp.where(near_two, limit, general))


def zero_size_half_spread(s0: jax.Array) -> jax.Array:
    """``S_ref(0) = s0 / 2``, the ECN half-spread for a vanishing size (relative to the mid).

    Args:
      s0: the ECN spread, relative to the mid (float32, any shape).

    Returns:
      ``s0 / 2``, same shape and dtype.
    """
    return 0.5 * s0


def half_spread(v: jax.Array, s0: jax.Array, depth: jax.Array, lam: jax.Array, max_fill: jax.Array) -> jax.Array:
    """``S_ref(v)``, the ECN half-spread paid for size ``v``.

    Args:
      v: sizes >= 0 (units), any shape; capped at ``max_fill * depth``.
      s0: the ECN spread, relative to the mid (float32 scalar).
      depth: ``v_max``, the ECN depth (units, > 0).
      lam: the curve exponent (> 1).
      max_fill: the largest fraction of ``depth`` traded at once, in (0, 1).

    Returns:
      float32, the shape of ``v``: the half-spread relative to the mid.
    """
    u = jnp.minimum(jnp.asarray(v, jnp.float32) / depth, max_fill)
    return zero_size_half_spread(s0) * curve_ratio(u, lam)
