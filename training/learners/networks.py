"""Actor-critic networks (flax linen): separate MLP torsos for the policy and the value."""

from __future__ import annotations

from collections.abc import Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}


def _dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros)


class ActorCritic(nn.Module):
    """``obs (..., d) -> (distribution over actions, value (...,))``.

    ``action_dim`` is the number of categories (``discrete``) or the action size (continuous,
    a diagonal Gaussian with a state-independent log standard deviation).
    """

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = 0.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[distrax.Distribution, jax.Array]:
        act = ACTIVATIONS[self.activation]
        actor, critic = obs, obs
        for size in self.hidden_sizes:
            actor = act(_dense(size, np.sqrt(2))(actor))
            critic = act(_dense(size, np.sqrt(2))(critic))
        head = _dense(self.action_dim, 0.01)(actor)
        value = _dense(1, 1.0)(critic)[..., 0]
        if self.discrete:
            return distrax.Categorical(logits=head), value
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
        return distrax.MultivariateNormalDiag(head, jnp.exp(log_std)), value
