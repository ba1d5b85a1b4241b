"""``num_envs`` copies of a single-agent jaxmarket env as a ``gymnasium.vector.VectorEnv``, stepped
in one jitted, vmapped call (``jaxmarket.core.VecEnv``) instead of one Python call per copy.

    import gymnasium, jaxmarket
    envs = gymnasium.make_vec("jaxmarket/MarketMaking-AS-v0", num_envs=64, vectorization_mode="vector_entry_point")
    obs, info = envs.reset(seed=0)                       # obs: (64, 2) float32
    obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())

Autoreset is gymnasium's same-step mode (``metadata["autoreset_mode"] = AutoresetMode.SAME_STEP``):
a copy whose episode ends returns the first observation of its next episode, and its last one in
``info["final_obs"]`` (an object array, None for the other copies; ``info["_final_obs"]`` is the
mask) and the step's info entries in ``info["final_info"]`` (masked by ``"_final_info"``), as
gymnasium's ``SyncVectorEnv`` does in that mode. gymnasium's vector wrappers that need next-step
autoreset (the observation wrappers) refuse it; the episode-statistics, reward and action wrappers
work. Keys: as ``GymnasiumEnv`` (one key for
the batch; ``VecEnv`` splits it over the copies), so the adapter returns exactly what
``VecEnv.reset`` and ``VecEnv.step`` return for the same keys and actions.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from jaxmarket.core.keys import seed_key
from jaxmarket.core.registry import make
from jaxmarket.core.validation import check_int
from jaxmarket.core.vec_env import VecEnv
from jaxmarket.interop.gymnasium_env import ADAPTER_INFO, check_single_agent, checked_seed, first_seed, resolve
from jaxmarket.interop.spaces import check_action, to_gymnasium_space



def vector_info(info: dict, mask: np.ndarray) -> dict:
    """gymnasium's vector info layout: each array ``(num_envs, ...)`` beside the bool mask
    ``"_" + name`` of the copies it holds a value for, nested dicts alike."""
    out: dict = {}
    for name, value in info.items():
        out[name] = vector_info(value, mask) if isinstance(value, dict) else value
        out[f"_{name}"] = mask
    return out


class GymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """A batch of one jaxmarket single-agent env behind gymnasium's ``VectorEnv`` API (see the
    module docstring).

    ``single_observation_space`` and ``single_action_space`` are the env's, converted;
    ``observation_space`` and ``action_space`` are them batched (``gymnasium.vector.utils.batch_space``:
    a ``Box`` gains a leading ``num_envs`` axis, a ``Discrete`` becomes ``MultiDiscrete``).
    ``step`` returns numpy: observations ``(num_envs, *obs_shape)``, rewards float32
    ``(num_envs,)``, ``terminated`` and ``truncated`` bool ``(num_envs,)`` and the info described above
    (plus the env's own info entries of the step, each ``(num_envs,)`` with an all-True mask: for a
    copy that ended, its ended episode's).

    Args:
      env: a jaxmarket single-agent env, or a registered id.
      params: the env's parameters, shared by every copy; ``default_params`` if None.
      num_envs: the number of copies, in ``[1, INT32_MAX]``.
      devices: devices the copies are split across (``VecEnv``); None: every device.

    Raises:
      ValueError: a multi-agent env, an unregistered id, ``num_envs`` or ``devices`` out of range,
        or invalid ``params``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env: Any, params: Any = None, num_envs: int = 1, devices: int | None = None) -> None:
        env, params = resolve(env, params)
        check_single_agent(env)
        check_int("num_envs", num_envs, 1)
        num_envs = int(num_envs)
        self.env = env
        self.params = env.checked_params(params)
        self.vec_env = VecEnv(env, num_envs, devices=devices)
        self.num_envs = num_envs
        self.render_mode = None
        self.single_observation_space = to_gymnasium_space(env.observation_space(self.params))
        self.single_action_space = to_gymnasium_space(env.action_space(self.params))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._key: jax.Array | None = None
        self._state: Any = None

    def _next_key(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return key

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode in every copy.

        Args:
          seed: one integer in ``[0, 2**32 - 1]`` for the whole batch (the copies draw from keys
            split from it), or None to continue the key.
          options: accepted for the API; the envs take none.

        Returns:
          ``(obs, info)``: observations ``(num_envs, *obs_shape)`` and an empty info.

        Raises:
          ValueError: a seed that is not one integer in that range (a list of per-copy seeds
            included: the copies' keys are split from one).
        """
        del options
        if isinstance(seed, (list, tuple, np.ndarray)):
            raise ValueError(f"seed = {seed!r}: give one integer seed for the batch (the copies' keys are split from it)")
        if seed is not None:
            seed, self._key = checked_seed(seed)
            self._np_random, self._np_random_seed = gymnasium.utils.seeding.np_random(seed)
        if self._key is None:
            self._key = seed_key(first_seed(self.np_random))
        obs, self._state = self.vec_env.reset(self._next_key(), self.params)
        return jax.device_get(obs), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """One step of every copy; copies whose episode ends continue from a fresh one (same-step autoreset).

        Args:
          actions: ``(num_envs, *action_shape)``: integers for a ``Discrete`` env, real numbers for a ``Box``.

        Returns:
          ``(obs, rewards, terminated, truncated, info)`` (see the class docstring).

        Raises:
          ValueError: actions of the wrong shape or dtype (naming the expected ones).
          gymnasium.error.ResetNeeded: ``step`` before ``reset``.
        """
        actions = check_action("actions", actions, self.single_action_space, (self.num_envs,))
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        obs, self._state, reward, terminated, truncated, info = self.vec_env.step(
            self._next_key(), self._state, actions, self.params)
        obs, reward, terminated, truncated, info = jax.device_get((obs, reward, terminated, truncated, info))
        ended = terminated | truncated
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(ended):
            final_obs[i] = info["final_observation"][i]
        env_info = {k: v for k, v in info.items() if k not in ADAPTER_INFO}
        infos = vector_info(env_info, np.ones(self.num_envs, bool))
        infos.update(final_obs=final_obs, _final_obs=ended, final_info=vector_info(env_info, ended), _final_info=ended)
        return obs, reward, terminated, truncated, infos


def to_gymnasium_vector(env: Any, params: Any = None, num_envs: int = 1, devices: int | None = None) -> GymnasiumVectorEnv:
    """``num_envs`` copies of a jaxmarket single-agent env as a ``gymnasium.vector.VectorEnv``
    (``GymnasiumVectorEnv``), stepped in one jitted call.

    Raises:
      ValueError: as ``GymnasiumVectorEnv``.
    """
    return GymnasiumVectorEnv(env, params, num_envs, devices)


def make_vector_env(env_id: str, num_envs: int = 1, **overrides: Any) -> GymnasiumVectorEnv:
    """``gymnasium.make_vec``'s vector entry point for a jaxmarket id (``vectorization_mode="vector_entry_point"``).

    Raises:
      ValueError: ``jm.make``'s errors, or ``num_envs`` out of range.
    """
    env, params = make(env_id, **overrides)
    return GymnasiumVectorEnv(env, params, num_envs)
