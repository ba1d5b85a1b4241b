"""The policies that make the datasets (behaviour policies), with exploration noise, and the reference
policies whose scores a dataset's metadata carries (random, and the env's best baseline).

A behaviour is named per env (``BEHAVIOURS``): ``heuristic`` (the curve-pricing, risk-averse
hedging dealer of ``jaxmarket.otc.dealer``) on OTC-LP-v0 and OTC-v0, ``optimal`` (Cartea–Jaimungal)
and ``as-symmetric`` (Avellaneda–Stoikov) on MarketMaking-AS-v0, ``twap``, ``always-passive`` and
``always-market`` on Execution-v0, and ``random`` on any env.

Exploration noise (``noise``): a Discrete action is replaced, with probability ``noise``, by a
uniform one. A Box action gets Gaussian noise in one of two spaces (``noise_space``):

- ``action``: in the action's units, of standard deviation ``noise`` times each entry's range, then
  clipped to the bounds (so some of the mass sits on the bounds);
- ``policy``: in the unbounded variable of PPO's squashed policy, ``u = logit((a - low) / (high -
  low))`` (``training.learners.offline.unsquash``), of standard deviation ``POLICY_NOISE_GAIN *
  noise``, then squashed back, ``a = low + (high - low) sigmoid(u)``. The gain makes the two agree to
  first order at the middle of the range (where ``da/du = (high - low) / 4``). A Gaussian policy over
  ``u`` with a state-independent spread, the cloned policy's family, contains this behaviour
  exactly, so behaviour cloning can match it; the clipped action-space noise it can only approach.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import jaxmarket as jm
from jaxmarket.baselines import always_market, always_passive, avellaneda_stoikov, cartea_jaimungal, twap
from jaxmarket.core import spaces
from jaxmarket.core.agents import MultiAgent, adapter
from jaxmarket.core.validation import check_choice, check_range
from jaxmarket.otc import dealer
from training.learners.offline import unsquash

__all__ = [
    "BEHAVIOURS", "NOISE_SPACES", "POLICY_NOISE_GAIN", "behaviour_policy", "noise_label", "noisy", "reference_scores",
]

MM_AS_GAMMA = 0.1  # the Avellaneda–Stoikov risk aversion of the market-making comparison
RANDOM = "random"
NOISE_SPACES = ("action", "policy")
"""Where a Box action's exploration noise is added (see the module docstring)."""
POLICY_NOISE_GAIN = 4.0
"""``policy`` noise's standard deviation in ``u`` per unit of ``noise``: the inverse of the sigmoid's
slope at 0, so that at the middle of the range it spreads the action as ``action`` noise does."""


def _otc_lp_heuristic(env: Any, params: Any) -> jm.Policy:
    def act(key: jax.Array, obs: jax.Array, state: Any, p: Any) -> jax.Array:
        del key, state
        return dealer.heuristic_lp_actions(obs[None], env.config, p, p.curve_alpha, p.ref_size, p.hedge_scale,
                                           p.skew_coef)[0]

    return act


def _cartea_jaimungal(env: Any, params: Any) -> jm.Policy:
    model = {f.name: getattr(params, f.name) for f in dataclasses.fields(params) if f.name not in ("phi", "alpha")}
    return cartea_jaimungal(float(params.phi), float(params.alpha), **model)


BEHAVIOURS: dict[str, dict[str, Callable[[Any, Any], jm.Policy]]] = {
    "jaxmarket/OTC-LP-v0": {"heuristic": _otc_lp_heuristic},
    "jaxmarket/OTC-v0": {"heuristic": lambda env, params: dealer.heuristic_policy(env)},
    "jaxmarket/MarketMaking-AS-v0": {
        "optimal": _cartea_jaimungal,
        "as-symmetric": lambda env, params: avellaneda_stoikov(MM_AS_GAMMA, "symmetric"),
    },
    "jaxmarket/Execution-v0": {
        "twap": lambda env, params: twap(),
        "always-passive": lambda env, params: always_passive(),
        "always-market": lambda env, params: always_market(),
    },
}
"""Per env id, the named behaviour policies' factories ``(env, params) -> policy`` (``random`` is
valid for every env)."""

def _noise_box(space: Any, action: jax.Array, key: jax.Array, noise: float, noise_space: str) -> jax.Array:
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    normal = jax.random.normal(key, jnp.shape(action))
    if noise_space == "policy":
        u = unsquash(action, low, high) + POLICY_NOISE_GAIN * noise * normal
        return (low + (high - low) * jax.nn.sigmoid(u)).astype(jnp.float32)
    shaken = action + noise * (high - low) * normal
    return jnp.clip(shaken, low, high).astype(jnp.float32)


def _noise_discrete(space: Any, action: jax.Array, key: jax.Array, noise: float) -> jax.Array:
    flip_key, pick_key = jax.random.split(key)
    explore = jax.random.uniform(flip_key, jnp.shape(action)) < noise
    uniform = jax.random.randint(pick_key, jnp.shape(action), 0, space.n)
    return jnp.where(explore, uniform, action).astype(jnp.int32)


def _shake(space: Any, action: jax.Array, key: jax.Array, noise: float, noise_space: str) -> jax.Array:
    if isinstance(space, spaces.Discrete):
        return _noise_discrete(space, action, key, noise)
    return _noise_box(space, action, key, noise, noise_space)


def noisy(env: Any, params: Any, policy: jm.Policy, noise: float, noise_space: str = "action") -> jm.Policy:
    """``policy`` with exploration noise (see the module docstring).

    Args:
        env: the env (its action spaces, per family for a multi-agent env).
        params: its parameters.
        policy: the noise-free policy.
        noise: Box: the noise's standard deviation as a fraction of each entry's range (``action``
            space) or that over ``POLICY_NOISE_GAIN`` in ``u`` (``policy`` space); Discrete: the
            probability of a uniform action; in ``[0, 1]``, 0 returns ``policy`` itself.
        noise_space: ``action`` or ``policy``, where a Box action's noise is added (``NOISE_SPACES``).

    Returns:
        ``act(key, obs, state, params) -> action``, one key for the policy and one for the noise.

    Raises:
        ValueError: ``noise`` outside ``[0, 1]``, or an unknown ``noise_space``.
    """
    check_range("noise", noise, 0.0, 1.0)
    check_choice("noise_space", noise_space, NOISE_SPACES)
    if noise == 0:
        return policy
    multi = isinstance(adapter(env), MultiAgent)

    def act(key: jax.Array, obs: Any, state: Any, p: Any) -> Any:
        policy_key, noise_key = jax.random.split(key)
        action = policy(policy_key, obs, state, p)
        if not multi:
            return _shake(env.action_space(p), action, noise_key, noise, noise_space)
        keys = dict(zip(env.families, jax.random.split(noise_key, len(env.families))))
        return {f: _shake(env.action_space(f, p), a, keys[f], noise, noise_space) for f, a in action.items()}

    return act


def noise_label(noise_space: str) -> str:
    """What a behaviour's name carries of its noise space: nothing for ``action`` (the default), else
    ``", <space> space"``."""
    return "" if noise_space == NOISE_SPACES[0] else f", {noise_space} space"


def behaviour_policy(env_id: str, env: Any, params: Any, name: str, noise: float = 0.0,
                     noise_space: str = "action") -> jm.Policy:
    """The behaviour ``name`` on ``env_id`` with exploration ``noise``.

    Args:
        env_id: a registered env id.
        env: the env ``jm.make(env_id, ...)`` built.
        params: its parameters.
        name: a key of ``BEHAVIOURS[env_id]``, or ``random``.
        noise: the exploration noise (``noisy``).
        noise_space: where a Box action's noise is added (``noisy``).

    Returns:
        The policy.

    Raises:
        ValueError: an unknown behaviour for the env (listing the valid ones), ``noise`` outside
            ``[0, 1]`` or an unknown ``noise_space``.
    """
    valid = (*BEHAVIOURS.get(env_id, {}), RANDOM)
    if name not in valid:
        raise ValueError(f"policy = {name!r} is not a behaviour of {env_id}: choose one of {list(valid)}")
    base = jm.random_policy(env) if name == RANDOM else BEHAVIOURS[env_id][name](env, params)
    return noisy(env, params, base, noise, noise_space)


def reference_scores(env_id: str, env: Any, params: Any, episodes: int, seed: int
                     ) -> tuple[float | None, float | None, str | None]:
    """The mean return of the random policy and of the best of the env's noise-free behaviours
    (``BEHAVIOURS``) over the same episodes: Minari's ``ref_min_score`` and ``ref_max_score``.

    Args:
        env_id: a registered env id.
        env: its env.
        params: its parameters.
        episodes: evaluation episodes per policy, >= 1.
        seed: the evaluation seed.

    Returns:
        ``(random, best, best's name)``; the last two None for an env without behaviours; all None
        for a multi-agent env (its returns are per agent).
    """
    if isinstance(adapter(env), MultiAgent):
        return None, None, None
    low = float(jm.evaluate(env, params, jm.random_policy(env), episodes, seed)["return"].mean())
    scores = {name: float(jm.evaluate(env, params, make(env, params), episodes, seed)["return"].mean())
              for name, make in BEHAVIOURS.get(env_id, {}).items()}
    if not scores:
        return low, None, None
    best = max(scores, key=scores.get)
    return low, scores[best], best
