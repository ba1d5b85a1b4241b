"""Running mean and variance (parallel Welford) for observation and reward normalisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

INITIAL_COUNT = 1e-4  # pseudo-count of the initial statistics (mean 0, variance 1): avoids dividing by 0
STD_EPS = 1e-8  # added to the variance before its square root


@struct.dataclass
class RunningStats:
    """Mean and variance over ``count`` samples of vectors of shape ``mean.shape``.

    Attributes:
        mean: ``(*shape,)`` float32 running mean.
        var: ``(*shape,)`` float32 running (population) variance.
        count: ``()`` float32 number of samples merged, starting at ``INITIAL_COUNT``.
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...] = ()) -> RunningStats:
        """Statistics before any sample: mean 0, variance 1, count ``INITIAL_COUNT``.

        Args:
            shape: the shape of one sample (``()`` for scalars such as returns).

        Returns:
            The initial statistics (float32).
        """
        return cls(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.array(INITIAL_COUNT, jnp.float32))

    def update(self, batch: jax.Array) -> RunningStats:
        """Merge a batch into the statistics (Chan et al. parallel update).

        Args:
            batch: ``(..., *shape)`` samples, any leading axes; cast to float32.

        Returns:
            The statistics over the old samples and the batch's.
        """
        batch = batch.reshape((-1,) + self.mean.shape).astype(jnp.float32)
        n = jnp.asarray(batch.shape[0], jnp.float32)
        mean, var = batch.mean(axis=0), batch.var(axis=0)
        total = self.count + n
        delta = mean - self.mean
        new_mean = self.mean + delta * n / total
        m2 = self.var * self.count + var * n + jnp.square(delta) * self.count * n / total
        return RunningStats(new_mean, m2 / total, total)

    def normalize(self, x: jax.Array, clip: float, eps: float = STD_EPS) -> jax.Array:
        """Centre and scale ``x``: ``(x - mean) / sqrt(var + eps)`` clipped to ``[-clip, clip]``.

        Args:
            x: ``(..., *shape)`` samples.
            clip: the clipping bound, > 0.
            eps: added to the variance, > 0.

        Returns:
            The normalised samples, shape of ``x``.
        """
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + eps), -clip, clip)

    def scale(self, x: jax.Array, clip: float, eps: float = STD_EPS) -> jax.Array:
        """Scale ``x`` without centring (how rewards are normalised): ``x / sqrt(var + eps)``
        clipped to ``[-clip, clip]``.

        Args:
            x: ``(..., *shape)`` samples.
            clip: the clipping bound, > 0.
            eps: added to the variance, > 0.

        Returns:
            The scaled samples, shape of ``x``.
        """
        return jnp.clip(x / jnp.sqrt(self.var + eps), -clip, clip)
