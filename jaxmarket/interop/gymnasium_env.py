"""A single-agent jaxmarket env as a ``gymnasium.Env``: numpy in and out, one jitted step per call.

    import gymnasium, jaxmarket
    env = gymnasium.make("jaxmarket/MarketMaking-AS-v0", phi=0.01)   # or to_gymnasium(*jm.make(...))
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

Keys: ``reset(seed=s)`` starts the adapter's key at ``jax.random.key(s)`` (``reset()`` without a
seed continues it; the first draws a seed from gymnasium's ``np_random``). Every ``reset`` and
``step`` splits it as ``key, sub = jax.random.split(key)`` and hands ``sub`` to the JAX env, so
the adapter returns exactly what ``env.reset(sub, params)`` and ``env.step(sub, ...)`` return,
with the episode's last observation (the JAX env's ``info["final_observation"]``) where the JAX env
has already reset. It steps through ``env.step`` itself, the same compiled program, so the numbers are bitwise
the JAX env's.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import numpy as np

from jaxmarket.core.environment import Environment
from jaxmarket.core.keys import MAX_SEED, seed_key
from jaxmarket.core.registry import make
from jaxmarket.interop.render import episode_frame
from jaxmarket.interop.spaces import check_action, to_gymnasium_space

RENDER_MODES = ("rgb_array",)
ADAPTER_INFO = ("final_observation", "terminated", "truncated")  # env.step info entries the step's outputs already hold
RENDER_FPS = 4  # frames a second a video recorder plays the episode plot at


def resolve(env: Any, params: Any) -> tuple[Any, Any]:
    """``(env, params)`` from an env or a registered id (built by ``jm.make``), ``params`` defaulting
    to the env's ``default_params``.

    Raises:
      ValueError: an unregistered id (naming the registered ones), ``jm.make``'s ``(env, params)``
        pair passed as one argument, or ``params`` of another type than the env's ``default_params``.
    """
    if isinstance(env, tuple):
        raise ValueError("env is a tuple: pass jm.make's pair unpacked, e.g. to_gymnasium(*jm.make(env_id))")
    if isinstance(env, str):
        env, default = make(env)
    else:
        default = getattr(env, "default_params", None)
    if params is None:
        return env, default
    if default is not None and type(params) is not type(default):
        raise ValueError(f"params is a {type(params).__name__}: expected the env's {type(default).__name__} "
                         f"(env.default_params, or jm.make(env_id, **overrides)[1])")
    return env, params


def check_single_agent(env: Any) -> None:
    """Raise ``ValueError`` unless ``env`` is a jaxmarket single-agent ``Environment``."""
    if isinstance(env, Environment):
        return
    families = getattr(env, "families", None)
    if families:
        raise ValueError(f"env = {type(env).__name__} is a multi-agent env (families {list(families)}): "
                         "use jaxmarket.interop.to_pettingzoo for it")
    raise ValueError(f"env = {type(env).__name__} is not a jaxmarket single-agent Environment "
                     f"(one of jaxmarket.registered() built by jm.make, or an Environment subclass)")


def checked_seed(seed: Any) -> tuple[int, jax.Array]:
    """A user's seed as ``(int(seed), jax.random.key(seed))``, checked before any state changes.

    Raises:
      ValueError: not an integer in ``[0, MAX_SEED]`` (numpy integers are taken).
    """
    key = seed_key(seed)
    return int(seed), key


def first_seed(np_random: np.random.Generator) -> int:
    """A seed in ``[0, MAX_SEED]`` drawn from gymnasium's ``np_random`` (a reset without a seed)."""
    return int(np_random.integers(0, MAX_SEED, endpoint=True))


class GymnasiumEnv(gymnasium.Env):
    """A jaxmarket single-agent env behind gymnasium's ``Env`` API (see the module docstring).

    Spaces are the env's, converted (``to_gymnasium_space``). ``step`` returns numpy:
    ``obs`` with the observation space's shape and dtype, ``reward`` a Python float,
    ``terminated`` and ``truncated`` Python bools, ``info`` the env's own info entries as numpy
    (e.g. ``inventory`` and ``pnl`` for market making). After the step that ends an episode,
    ``reset()`` must come before the next ``step``.

    Args:
      env: a jaxmarket single-agent env, or a registered id.
      params: the env's parameters; its ``default_params`` if None.
      render_mode: None, or ``"rgb_array"``: ``render()`` returns the episode so far as a uint8
        ``(480, 640, 3)`` image (``jaxmarket.interop.render``).

    Raises:
      ValueError: a multi-agent env, an unregistered id, a ``render_mode`` other than those,
        or invalid ``params`` (naming the field, value and range).
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": RENDER_FPS}

    def __init__(self, env: Any, params: Any = None, render_mode: str | None = None) -> None:
        env, params = resolve(env, params)
        check_single_agent(env)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode = {render_mode!r} is not valid: choose None or one of {list(RENDER_MODES)}")
        self.env = env
        self.params = env.checked_params(params)
        self.render_mode = render_mode
        self.observation_space = to_gymnasium_space(env.observation_space(self.params))
        self.action_space = to_gymnasium_space(env.action_space(self.params))
        self._key: jax.Array | None = None
        self._state: Any = None
        self._observations: list[np.ndarray] = []
        self._rewards: list[float] = []

    def _next_key(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return key

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        """Start an episode.

        Args:
          seed: an integer in ``[0, 2**32 - 1]``: restart the key at ``jax.random.key(seed)``
            (and gymnasium's ``np_random``); None continues the key.
          options: accepted for the API; the envs take none.

        Returns:
          ``(obs, info)``: the first observation (numpy) and an empty info.

        Raises:
          ValueError: a seed that is not an integer in that range.
        """
        del options
        if seed is not None:
            seed, self._key = checked_seed(seed)
        super().reset(seed=seed)
        if self._key is None:
            self._key = seed_key(first_seed(self.np_random))
        obs, self._state = self.env.reset(self._next_key(), self.params)
        obs = jax.device_get(obs)
        if self.render_mode is not None:
            self._observations, self._rewards = [obs], []
        return obs, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """One env step.

        Args:
          action: an element of ``action_space``: an integer (numpy or Python) for a ``Discrete``
            space, an array of the space's shape for a ``Box`` (values outside the bounds are
            handled as the env documents: clipped, or no trade, and counted).

        Returns:
          ``(obs, reward, terminated, truncated, info)`` (see the class docstring).

        Raises:
          ValueError: an action of the wrong shape or dtype (naming the expected ones).
          gymnasium.error.ResetNeeded: ``step`` before ``reset``, or after the episode ended.
        """
        action = check_action("action", action, self.action_space)
        if self._state is None:
            raise gymnasium.error.ResetNeeded("call reset() before step(), and again after an episode ends")
        _, state, reward, terminated, truncated, info = self.env.step(self._next_key(), self._state, action, self.params)
        obs, reward, terminated, truncated, info = jax.device_get((info["final_observation"], reward, terminated,
                                                                  truncated, info))
        terminated, truncated = bool(terminated), bool(truncated)
        self._state = None if terminated or truncated else state
        info = {k: v for k, v in info.items() if k not in ADAPTER_INFO}
        if self.render_mode is not None:
            self._observations.append(obs)
            self._rewards.append(float(reward))
        return obs, float(reward), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"`` the episode so far as a uint8 ``(480, 640, 3)`` image
        (empty panels before the first reset); None otherwise."""
        if self.render_mode is None:
            return None
        observations = self._observations or [np.zeros(self.observation_space.shape, np.float32)]
        return episode_frame(self.env.name, observations, self._rewards)


def to_gymnasium(env: Any, params: Any = None, render_mode: str | None = None) -> GymnasiumEnv:
    """A jaxmarket single-agent env as a ``gymnasium.Env`` (``GymnasiumEnv``).

    Args:
      env: an env from ``jm.make`` (or any jaxmarket ``Environment``), or a registered id.
      params: its parameters; ``default_params`` if None.
      render_mode: None or ``"rgb_array"``.

    Raises:
      ValueError: as ``GymnasiumEnv``.
    """
    return GymnasiumEnv(env, params, render_mode)


def make_env(env_id: str, render_mode: str | None = None, **overrides: Any) -> GymnasiumEnv:
    """``gymnasium.make``'s entry point for a jaxmarket id: ``jm.make(env_id, **overrides)`` wrapped.

    Raises:
      ValueError: an unregistered id, an unknown override or an invalid value (``jm.make``'s errors).
    """
    env, params = make(env_id, **overrides)
    return GymnasiumEnv(env, params, render_mode)
