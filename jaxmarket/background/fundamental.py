"""The fundamental value: a mean-reverting (Ornstein–Uhlenbeck) process with rare megashocks,
as in ABIDES's sparse mean-reverting oracle.

Units follow ABIDES: values in cents, time in nanoseconds, ``kappa`` per ns, ``fund_vol`` per
√ns (the standard deviation over ``dt`` ns, for ``kappa * dt`` small, is ``fund_vol * sqrt(dt)``:
about 242 cents over a 6.5-hour day at the defaults), megashocks at ``megashock_rate`` per ns with
a size ``±N(megashock_mean, megashock_var)`` (the sign a fair coin).

Both functions are equivariant under a shift of the price level (``ou_transition(v - c, dt, r_bar
- c, ...) = ou_transition(v, dt, r_bar, ...) - c``), so the background market runs them on float32
*deviations* from its reference tick, whose resolution does not depend on the price level.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NS_PER_S = 1e9
SHOCK_OCCURS, SHOCK_SIGN = 0, 1  # positions in ``megashock``'s uniform pair


def ou_transition(value: jax.Array, dt_ns: jax.Array, r_bar: jax.Array, kappa: jax.Array, fund_vol: jax.Array,
                  normal: jax.Array) -> jax.Array:
    """The exact OU transition over ``dt_ns`` ≥ 0 given a standard normal draw (float32 cents).

    Mean ``r_bar + (value - r_bar) e^{-kappa dt}``; variance ``fund_vol^2 (1 - e^{-2 kappa dt}) / (2 kappa)``.
    """
    decay = jnp.exp(-kappa * dt_ns)
    variance = fund_vol**2 * -jnp.expm1(-2.0 * kappa * dt_ns) / (2.0 * kappa)
    return r_bar + (value - r_bar) * decay + jnp.sqrt(jnp.maximum(variance, 0.0)) * normal


def megashock(dt_ns: jax.Array, rate: jax.Array, mean: jax.Array, var: jax.Array, uniforms: jax.Array,
              normal: jax.Array) -> jax.Array:
    """The megashock added over ``dt_ns``: with probability ``1 - e^{-rate dt}`` (at most one shock
    per interval; at the default rate a 60-s interval has one with probability 1.7e-7) a jump of
    ``±N(mean, var)``. ``uniforms`` (2,) pick occurrence and sign (``SHOCK_OCCURS``, ``SHOCK_SIGN``)
    and ``normal`` the size: three independent draws (a shared draw would correlate the sign with
    the size and bias the mean)."""
    happens = uniforms[SHOCK_OCCURS] < -jnp.expm1(-rate * dt_ns)
    sign = jnp.where(uniforms[SHOCK_SIGN] < 0.5, -1.0, 1.0)
    return jnp.where(happens, sign * (mean + jnp.sqrt(var) * normal), 0.0)
