"""Supertypes: per-field distributions over agent types, sampled per agent per episode.

A *type* is a small vector of numbers that parameterises an agent's reward and behaviour (risk
aversion, PnL weight, an execution target...). A *supertype* maps each type field to a
distribution; its parameters are pytree leaves that live in an environment's ``EnvParams``, so
they can be changed, swept, vmapped or calibrated without recompiling. (Changing the *kind* of a
field's distribution changes the pytree structure and recompiles.)

    supertype = {"gamma": Uniform(0.0, 1.0), "omega": ClippedNormal(0.8, 0.1, 0.0, 1.0)}
    types = sample_types(key, supertype, ("gamma", "omega"), n=4)   # (4, 2) float32

Every sampled value lies in the distribution's ``support()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core.validation import check_range, is_concrete

PROB_SUM_TOLERANCE = 1e-5  # |sum(probs) - 1| allowed for a categorical distribution


class Distribution(Protocol):
    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array: ...

    def support(self) -> tuple[Any, Any]: ...

    def check(self, field: str) -> None: ...


def _concrete(*values: Any) -> bool:
    return all(is_concrete(v) for v in values)


def _check_scalar(field: str, value: Any) -> None:
    """Raise ``ValueError`` unless a concrete ``value`` is a scalar: one distribution parameter for
    the whole family (every agent of a family draws from the same distribution)."""
    if is_concrete(value) and np.ndim(value) != 0:
        raise ValueError(f"{field} has shape {np.shape(value)}: expected a scalar, shape (), one value for "
                         "all agents of the family")


def _check_interval(field: str, low: Any, high: Any) -> None:
    """Raise ``ValueError`` unless ``low`` and ``high`` are finite scalars and ``low <= high``."""
    _check_scalar(f"{field}.low", low)
    _check_scalar(f"{field}.high", high)
    check_range(f"{field}.low", low)
    check_range(f"{field}.high", high)
    if _concrete(low, high) and float(low) > float(high):
        raise ValueError(f"{field}: low = {low!r} > high = {high!r}: need low <= high")


@struct.dataclass
class Uniform:
    """Uniform on ``[low, high]`` (``low == high`` gives a constant); scalar float parameters."""

    low: Any
    high: Any

    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        low, high = jnp.asarray(self.low, jnp.float32), jnp.asarray(self.high, jnp.float32)
        return low + (high - low) * jax.random.uniform(key, shape, jnp.float32)

    def support(self) -> tuple[Any, Any]:
        return self.low, self.high

    def check(self, field: str) -> None:
        _check_interval(field, self.low, self.high)


@struct.dataclass
class ClippedNormal:
    """Normal(``mean``, ``std``) clipped to ``[low, high]``; scalar float parameters."""

    mean: Any
    std: Any
    low: Any
    high: Any

    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        draw = self.mean + self.std * jax.random.normal(key, shape, jnp.float32)
        return jnp.clip(draw, self.low, self.high).astype(jnp.float32)

    def support(self) -> tuple[Any, Any]:
        return self.low, self.high

    def check(self, field: str) -> None:
        _check_scalar(f"{field}.mean", self.mean)
        _check_scalar(f"{field}.std", self.std)
        check_range(f"{field}.mean", self.mean)
        check_range(f"{field}.std", self.std, 0.0)
        _check_interval(field, self.low, self.high)


@struct.dataclass
class Categorical:
    """One of ``values`` (shape (m,)) with probabilities ``probs`` (shape (m,), summing to 1)."""

    values: Any
    probs: Any

    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        probs = jnp.asarray(self.probs, jnp.float32)
        index = jax.random.categorical(key, jnp.log(probs), shape=shape)
        return jnp.asarray(self.values, jnp.float32)[index]

    def support(self) -> tuple[Any, Any]:
        values = jnp.asarray(self.values) if not is_concrete(self.values) else np.asarray(self.values)
        return values.min(), values.max()

    def check(self, field: str) -> None:
        if not _concrete(self.values, self.probs):
            return
        values, probs = np.asarray(self.values, np.float64), np.asarray(self.probs, np.float64)
        if values.ndim != 1 or values.size == 0 or probs.shape != values.shape:
            raise ValueError(
                f"{field}: values shape {values.shape} and probs shape {probs.shape} must be equal and (m,) with m >= 1"
            )
        check_range(f"{field}.values", values)
        check_range(f"{field}.probs", probs, 0.0, 1.0)
        if abs(probs.sum() - 1.0) > PROB_SUM_TOLERANCE:
            raise ValueError(f"{field}.probs sum to {probs.sum()!r}: they must sum to 1 (within {PROB_SUM_TOLERANCE})")


Supertype = Mapping[str, Any]
"""A mapping from type field name to a distribution (``Uniform``, ``ClippedNormal``, ``Categorical``)."""


def sample_types(key: jax.Array, supertype: Supertype, fields: tuple[str, ...], n: int) -> jax.Array:
    """Draw ``n`` agents' types: float32 ``(n, len(fields))``, column ``i`` from ``supertype[fields[i]]``."""
    keys = jax.random.split(key, len(fields))
    columns = [supertype[name].sample(k, (n,)) for name, k in zip(fields, keys)]
    return jnp.stack(columns, axis=-1) if columns else jnp.zeros((n, 0), jnp.float32)


def check_supertype(
    family: str, supertype: Supertype, bounds: Mapping[str, tuple[float, float]]
) -> None:
    """Raise ``ValueError`` unless ``supertype`` has exactly the fields of ``bounds``, each a valid
    distribution whose support lies within the field's ``(low, high)`` bounds."""
    if not isinstance(supertype, Mapping):
        raise ValueError(f"{family}_supertype = {supertype!r} must be a mapping from field name to distribution")
    missing, unknown = sorted(set(bounds) - set(supertype)), sorted(set(supertype) - set(bounds))
    if missing or unknown:
        raise ValueError(
            f"{family}_supertype: missing fields {missing}, unknown fields {unknown}; valid fields are {sorted(bounds)}"
        )
    for name, (low, high) in bounds.items():
        dist = supertype[name]
        field = f"{family}_supertype[{name!r}]"
        if not all(hasattr(dist, attr) for attr in ("sample", "support", "check")):
            raise ValueError(f"{field} = {dist!r} is not a distribution: use Uniform, ClippedNormal or Categorical")
        dist.check(field)
        lo, hi = dist.support()
        if _concrete(lo, hi) and (float(lo) < low or float(hi) > high):
            raise ValueError(f"{field} has support [{float(lo)}, {float(hi)}], outside the valid range [{low}, {high}]")

