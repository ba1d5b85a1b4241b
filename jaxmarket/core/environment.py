"""The single-agent environment base class: gymnax's ``Environment`` plus parameter checks and
episode metrics.

``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)`` and
``reset(key, params) -> (obs, state)`` behave as gymnax's: each is compiled once per input shape
and dtype (``jit`` with the env static), and ``step`` auto-resets when the episode ends. Before
compiling, the parameters are checked (once per parameter object) and concrete integer actions
are checked against int32 (JAX would narrow a numpy ``int64`` silently).
"""

from __future__ import annotations

import functools
from typing import Any, Generic

import jax
from gymnax.environments import environment as gymnax_env

from jaxmarket.core.agents import SingleAgent, adapter
from jaxmarket.core.auto_reset import step_with_auto_reset
from jaxmarket.core.validation import check_32_bit, check_int32, check_overrides

EnvState = gymnax_env.EnvState
EnvParams = gymnax_env.EnvParams


class Configurable:
    """Default parameters built from ``params_class`` with overrides, checked before tracing.

    ``params_class`` is a ``flax.struct`` dataclass with a ``check()`` method that raises
    ``ValueError`` on invalid concrete values.
    """

    params_class: type = EnvParams

    def __init__(self, **param_overrides: Any) -> None:
        """``param_overrides`` replace fields of ``params_class`` in ``default_params``."""
        self._default_params = self.make_params(**param_overrides)
        self._checked_params = self._default_params

    @property
    def default_params(self) -> Any:
        return self._default_params

    def make_params(self, **overrides: Any) -> Any:
        """Default parameters with ``overrides`` applied, checked before any tracing."""
        check_overrides(self.params_class, overrides, f"{type(self).__name__} params")
        params = self.params_class(**overrides)
        self.check_params(params)
        return params

    def check_params(self, params: Any) -> None:
        """Raise ``ValueError`` naming the field, value and valid range of any invalid parameter.

        Traced or device values are skipped; call this on the concrete parameters you build.
        """
        check = getattr(params, "check", None)
        if check is not None:
            check()

    def checked_params(self, params: Any) -> Any:
        """``params`` (``default_params`` if None) after ``check_params``, run once per parameter
        object (the last one checked is remembered) and skipped for traced parameters; also refuses
        JAX's 64-bit mode. What ``reset`` and ``step`` call before compiling."""
        check_32_bit()
        if params is None or params is self._checked_params:
            return self.default_params if params is None else params
        if not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(params)):
            self.check_params(params)
            self._checked_params = params
        return params

    def episode_metrics(self, state: Any, params: Any) -> dict[str, jax.Array]:
        """Per-episode values read from the last state of an episode (before auto-reset)."""
        del state, params
        return {}


class Environment(Configurable, gymnax_env.Environment, Generic[gymnax_env.TEnvState, gymnax_env.TEnvParams]):
    """A jaxmarket single-agent environment.

    Subclasses define ``params_class`` (see ``Configurable``), ``reset_env``, ``step_env``, the
    spaces and, optionally, ``episode_metrics`` and ``auto_reset``.
    """

    agent_adapter = SingleAgent

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, Any]:
        """A fresh episode.

        Args:
          key: a typed PRNG key.
          params: the env's parameters; ``default_params`` if None.

        Returns:
          ``(obs, state)``: the first observation (``observation_space(params)``) and the state.

        Raises:
          ValueError: invalid ``params`` (checked once per parameter object, before compiling).
        """
        return self._reset(key, self.checked_params(params))

    @functools.partial(jax.jit, static_argnames=("self",))
    def _reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        return self.reset_env(key, params)

    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None) -> tuple:
        """One step with auto-reset (``jaxmarket.core.auto_reset``).

        Args:
          key: a typed PRNG key.
          state: the state returned by the last ``reset`` or ``step``.
          action: an element of ``action_space(params)``.
          params: the env's parameters; ``default_params`` if None.

        Returns:
          ``(obs, state, reward, terminated, truncated, info)``: reward float32 ``()``,
          ``terminated`` and ``truncated`` bool ``()``. Where the episode ended, ``obs`` and
          ``state`` are those of the next episode (``auto_reset``); ``info`` adds ``terminated``,
          ``truncated`` and ``final_observation`` (the observation before the reset).

        Raises:
          ValueError: invalid ``params``, or a concrete integer action outside int32.
        """
        check_int32("action", action)
        return self._step(key, state, action, self.checked_params(params))

    @functools.partial(jax.jit, static_argnames=("self",))
    def _step(self, key: jax.Array, state: Any, action: Any, params: Any) -> tuple:
        return step_with_auto_reset(key, state, action, params, step=self.step_env, done=adapter(self).done,
                                    fresh=self.auto_reset)

    def auto_reset(self, key: jax.Array, state: Any, params: Any) -> tuple[Any, Any]:
        """The ``(obs, state)`` that ``step`` continues from when an episode ends (``state`` is the
        state before the step). gymnax's: a fresh ``reset_env``."""
        del state
        return self.reset_env(key, params)
