"""The PPO objective and generalised advantage estimation, shared by single-agent PPO (``ppo``) and
multi-agent PPO (``mappo``): the clipped surrogate with a clipped value loss and an entropy
bonus, GAE(lambda) advantages, and the KL anchor to a warm start's policy.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from training.learners.networks import ActorCritic

LOSS_METRICS = ("value_loss", "actor_loss", "entropy", "approx_kl")  # the parts ``ppo_loss`` reports
ADVANTAGE_EPS = 1e-8  # added to the advantages' standard deviation before dividing by it
SQUARED_ERROR_SCALE = 0.5  # the value loss is half the (clipped) squared error


def gae(rewards: jax.Array, values: jax.Array, dones: jax.Array, last_value: jax.Array, gamma: float,
        lam: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and value targets over time-major arrays.

    Nothing is bootstrapped across a step whose ``done`` is set (terminated or truncated).

    Args:
        rewards: ``(T, ...)`` float32 rewards.
        values: ``(T, ...)`` float32 value estimates of the observations the rewards followed.
        dones: ``(T, ...)`` bool, the episode ended at that step.
        last_value: ``(...)`` float32 value of the observation after the last step.
        gamma: discount factor in ``[0, 1]``.
        lam: GAE lambda in ``[0, 1]``.

    Returns:
        ``(advantages, targets)``, both ``(T, ...)`` float32, with ``targets = advantages + values``.
    """

    def backward(carry, step):
        advantage, next_value = carry
        reward, value, done = step
        not_done = 1.0 - done.astype(jnp.float32)
        delta = reward + gamma * next_value * not_done - value
        advantage = delta + gamma * lam * not_done * advantage
        return (advantage, value), advantage

    init = (jnp.zeros_like(last_value), last_value)
    _, advantages = jax.lax.scan(backward, init, (rewards, values, dones), reverse=True)
    return advantages, advantages + values


def ppo_loss(network: ActorCritic, net_params: Any, obs: jax.Array, action: jax.Array, old_log_prob: jax.Array,
             old_value: jax.Array, adv: jax.Array, targets: jax.Array, clip_eps: float, vf_coef: float,
             ent_coef: float) -> tuple[jax.Array, dict]:
    """The clipped PPO objective on a minibatch, with a clipped value loss and an entropy bonus.

    Advantages are normalised within the minibatch.

    Args:
        network: the actor-critic.
        net_params: its parameters (what the gradient is taken with respect to).
        obs: ``(B, d)`` float32 observations, as the policy saw them.
        action: ``(B,)`` int (categorical) or ``(B, action_dim)`` float32 unsquashed samples.
        old_log_prob: ``(B,)`` float32 log-probabilities of ``action`` when it was taken.
        old_value: ``(B,)`` float32 value estimates when the action was taken.
        adv: ``(B,)`` float32 advantages.
        targets: ``(B,)`` float32 value targets.
        clip_eps: clipping range of the probability ratio and of the value change, > 0.
        vf_coef: weight of the value loss, >= 0.
        ent_coef: weight of the entropy bonus, >= 0.

    Returns:
        ``(loss, parts)``: the scalar loss and a dict of the scalar ``LOSS_METRICS``.
    """
    dist, value = network.apply(net_params, obs)
    log_prob = dist.log_prob(action)
    value_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    squared_error = jnp.maximum(jnp.square(value - targets), jnp.square(value_clipped - targets))
    value_loss = SQUARED_ERROR_SCALE * squared_error.mean()
    ratio = jnp.exp(log_prob - old_log_prob)
    adv = (adv - adv.mean()) / (adv.std() + ADVANTAGE_EPS)
    actor_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()
    entropy = dist.entropy().mean()
    total = actor_loss + vf_coef * value_loss - ent_coef * entropy
    approx_kl = ((ratio - 1) - jnp.log(ratio)).mean()
    return total, {"value_loss": value_loss, "actor_loss": actor_loss, "entropy": entropy, "approx_kl": approx_kl}


def warm_start_kl(network: ActorCritic, net_params: Any, warm_params: Any, obs: jax.Array) -> jax.Array:
    """KL(warm policy || policy), averaged over a minibatch's observations: the term that
    ``warm_kl_coef`` weights in PPO's and MAPPO's losses after a warm start.

    Args:
        network: the actor-critic.
        net_params: its parameters (what the gradient is taken with respect to).
        warm_params: the parameters the run started from (``WarmStart.net_params``), held fixed.
        obs: ``(..., d)`` float32 normalised observations.

    Returns:
        A float32 scalar, >= 0.
    """
    warm_dist, _ = network.apply(warm_params, obs)
    dist, _ = network.apply(net_params, obs)
    return warm_dist.kl_divergence(dist).mean()
