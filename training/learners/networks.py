"""Actor-critic networks (flax linen): separate MLP torsos for the policy and the value, and the
maps between an action space and a network head."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.core import spaces

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}  # the valid ``activation`` names
HIDDEN_INIT_SCALE = np.sqrt(2)  # orthogonal-init gain of the hidden layers
POLICY_INIT_SCALE = 0.01  # orthogonal-init gain of the policy head: near-uniform initial policy
VALUE_INIT_SCALE = 1.0  # orthogonal-init gain of the value head


def _dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(scale), bias_init=nn.initializers.zeros)


class ActorCritic(nn.Module):
    """An actor-critic with separate MLP torsos; weights orthogonal-initialised, biases zero.

    Attributes:
        action_dim: the number of categories (``discrete``) or the action size (continuous).
        discrete: a categorical policy if True, else a diagonal Gaussian with a state-independent
            log standard deviation (parameter ``log_std``, shape ``(action_dim,)``).
        hidden_sizes: the width of each hidden layer of both torsos, each >= 1.
        activation: a key of ``ACTIVATIONS``.
        init_log_std: the initial log standard deviation of the Gaussian (continuous only).
    """

    action_dim: int
    discrete: bool
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = 0.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[distrax.Distribution, jax.Array]:
        """The policy and the value of observations.

        Args:
            obs: ``(..., d)`` float32 observations.

        Returns:
            ``(dist, value)``: a ``distrax.Categorical`` over ``action_dim`` categories or a
            ``distrax.MultivariateNormalDiag`` of size ``action_dim``, batched over ``...``, and
            the value estimates ``(...)`` float32.
        """
        act = ACTIVATIONS[self.activation]
        actor, critic = obs, obs
        for size in self.hidden_sizes:
            actor = act(_dense(size, HIDDEN_INIT_SCALE)(actor))
            critic = act(_dense(size, HIDDEN_INIT_SCALE)(critic))
        head = _dense(self.action_dim, POLICY_INIT_SCALE)(actor)
        value = _dense(1, VALUE_INIT_SCALE)(critic)[..., 0]
        if self.discrete:
            return distrax.Categorical(logits=head), value
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
        return distrax.MultivariateNormalDiag(head, jnp.exp(log_std)), value


def space_spec(space: Any) -> tuple[int, bool]:
    """The network head that fits an action space.

    Args:
        space: a ``jaxmarket.core.spaces.Discrete`` or ``Box``.

    Returns:
        ``(action_dim, discrete)``: the number of categories and True for ``Discrete``; the
        flattened action size and False for ``Box``.

    Raises:
        ValueError: ``space`` is neither ``Discrete`` nor ``Box``.
    """
    if isinstance(space, spaces.Discrete):
        return int(space.n), True
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape)), False
    raise ValueError(f"action space {space!r} is not supported: use Discrete or Box")


def space_action_map(space: Any, squash: bool) -> Callable[[jax.Array], jax.Array]:
    """The map from the policy's sample to an action of ``space``.

    Args:
        space: the action space.
        squash: with a ``Box`` space, map a sample ``u`` to ``low + (high - low) * sigmoid(u)``.

    Returns:
        The map ``u (..., action_dim) -> action``: the sigmoid squash (float32) for a ``Box`` with
        ``squash``, otherwise the identity.

    Raises:
        ValueError: ``squash`` with a ``Box`` whose bounds are not all finite.
    """
    if not (squash and isinstance(space, spaces.Box)):
        return lambda u: u
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    if not bool(jnp.all(jnp.isfinite(low) & jnp.isfinite(high))):
        raise ValueError("squash_actions = True needs a Box action space with finite bounds: set it to False")
    return lambda u: low + (high - low) * jax.nn.sigmoid(u)


def space_network(space: Any, hidden_sizes: tuple[int, ...], activation: str, init_log_std: float) -> ActorCritic:
    """The actor-critic whose head fits an action space.

    Args:
        space: a ``Discrete`` or ``Box`` action space.
        hidden_sizes: the hidden layer widths, each >= 1.
        activation: a key of ``ACTIVATIONS``.
        init_log_std: the initial Gaussian log standard deviation (``Box`` only).

    Returns:
        An unbound ``ActorCritic``.

    Raises:
        ValueError: ``space`` is neither ``Discrete`` nor ``Box``.
    """
    action_dim, discrete = space_spec(space)
    return ActorCritic(action_dim, discrete, tuple(hidden_sizes), activation, init_log_std)
