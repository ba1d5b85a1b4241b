"""Actions coming from numpy code checked against gymnasium spaces.

``to_gymnasium_space`` (``jaxmarket.core.spaces``, re-exported here) converts ``Discrete``, ``Box``,
``Dict`` and ``Tuple`` (recursively); ``check_action`` turns what a gymnasium or PettingZoo caller passes (a numpy array or scalar, a
Python number or list) into the array the JAX env takes, or raises a ``ValueError`` that names the
expected shape and dtype. Values inside the bounds are not checked here: each env documents what it
does with an out-of-range action (clipped or "no trade", and counted).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from jaxmarket.core.spaces import to_gymnasium_space
from jaxmarket.core.validation import check_int32


def check_action(name: str, action: Any, space: gymnasium.spaces.Space, batch: tuple[int, ...] = ()) -> np.ndarray:
    """``action`` as the numpy array the JAX env takes, after checking its shape and dtype.

    Args:
      name: what the error message calls the action (``"action"``, ``"actions['lp_0']"``).
      action: a numpy array or scalar, a Python number or a (nested) list.
      space: the gymnasium space of one action: ``Discrete`` or ``Box``.
      batch: leading axes the action has in front of the space's shape (``(num_envs,)`` for a vector env).

    Returns:
      For ``Discrete``: int32 of shape ``batch``. For ``Box``: the space's dtype, shape ``batch + space.shape``.

    Raises:
      ValueError: a shape other than ``batch + space.shape``; for ``Discrete`` a dtype that is not
        an integer (a float, even integral, is refused as gymnasium's ``Discrete`` refuses it) or an
        integer outside int32; for ``Box`` a dtype that is not a real number (bool, complex,
        object, strings). The message names the expected shape and dtype.
    """
    array = np.asarray(action)
    if isinstance(space, gymnasium.spaces.Discrete):
        expected, kinds, what = batch, "iu", f"integers (codes in [0, {space.n}))"
    elif isinstance(space, gymnasium.spaces.Box):
        expected, kinds, what = batch + space.shape, "iuf", f"real numbers (taken as {space.dtype})"
    else:
        raise ValueError(f"{name}: actions in a {type(space).__name__} space are not supported (Discrete or Box)")
    if array.shape != expected:
        raise ValueError(f"{name} has shape {array.shape}: expected shape {expected} of {what} for {space}")
    if array.dtype.kind not in kinds:
        raise ValueError(f"{name} has dtype {array.dtype}: expected {what} for {space}")
    if isinstance(space, gymnasium.spaces.Discrete):
        check_int32(name, array)
        return array.astype(np.int32)
    return array.astype(space.dtype)


def zero_action(space: gymnasium.spaces.Space) -> np.ndarray:
    """The all-zeros action of ``space`` in the dtype ``check_action`` returns (a filler for an agent
    whose action the env ignores)."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return np.zeros((), np.int32)
    return np.zeros(space.shape, space.dtype)


__all__ = ["check_action", "to_gymnasium_space", "zero_action"]
