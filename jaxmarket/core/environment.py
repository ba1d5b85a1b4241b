"""The single-agent environment base class: gymnax's ``Environment`` plus parameter checks and
episode metrics.

``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)`` and
``reset(key, params) -> (obs, state)`` come from gymnax unchanged (auto-reset on episode end).
"""

from __future__ import annotations

from typing import Any, Generic

import jax
from gymnax.environments import environment as gymnax_env

from jaxmarket.core.validation import check_overrides

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

    def episode_metrics(self, state: Any, params: Any) -> dict[str, jax.Array]:
        """Per-episode values read from the last state of an episode (before auto-reset)."""
        del state, params
        return {}


class Environment(Configurable, gymnax_env.Environment, Generic[gymnax_env.TEnvState, gymnax_env.TEnvParams]):
    """A jaxmarket single-agent environment.

    Subclasses define ``params_class`` (see ``Configurable``), ``reset_env``, ``step_env``, the
    spaces and, optionally, ``episode_metrics``.
    """
