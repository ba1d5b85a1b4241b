"""Running mean and variance (parallel Welford) for observation and reward normalisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    """Mean and variance over ``count`` samples of vectors of shape ``mean.shape``."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...] = ()) -> RunningStats:
        return cls(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.array(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> RunningStats:
        """Merge a batch ``(n, *shape)`` into the statistics (Chan et al. parallel update)."""
        batch = batch.reshape((-1,) + self.mean.shape).astype(jnp.float32)
        n = jnp.asarray(batch.shape[0], jnp.float32)
        mean, var = batch.mean(axis=0), batch.var(axis=0)
        total = self.count + n
        delta = mean - self.mean
        new_mean = self.mean + delta * n / total
        m2 = self.var * self.count + var * n + jnp.square(delta) * self.count * n / total
        return RunningStats(new_mean, m2 / total, total)

    def normalize(self, x: jax.Array, clip: float, eps: float = 1e-8) -> jax.Array:
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + eps), -clip, clip)

    def scale(self, x: jax.Array, clip: float, eps: float = 1e-8) -> jax.Array:
        """``x / std`` (no centring): how rewards are normalised."""
        return jnp.clip(x / jnp.sqrt(self.var + eps), -clip, clip)
