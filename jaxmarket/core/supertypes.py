"""Supertypes: per-field distributions over agent types, sampled per agent per episode.

A *type* is a small vector of numbers that parameterises an agent's reward and behaviour (risk
aversion, PnL weight, an execution target...). A *supertype* maps each type field to a
distribution; its parameters are pytree leaves that live in an environment's ``EnvParams``, so
they can be changed, swept, vmapped or calibrated without recompiling. (Changing the *kind* of a
field's distribution, or the shape of its parameters, changes the pytree structure or shapes and
recompiles.)

    supertype = {"gamma": Uniform(0.0, 1.0), "omega": ClippedNormal(0.8, 0.1, 0.0, 1.0)}
    types = sample_types(key, supertype, ("gamma", "omega"), n=4)   # (4, 2) float32

A field's distribution comes in two forms:

* **family** (scalar parameters): one distribution for every agent of the family, e.g.
  ``Uniform(0.0, 1.0)``; ``Categorical`` takes ``values`` and ``probs`` of shape ``(m,)``.
* **per agent** (a leading agent axis): one distribution per agent, e.g.
  ``Uniform(low=np.array([0.1, 0.5, 0.5]), high=np.array([0.2, 1.0, 1.0]))`` for 3 agents, where
  agent 0 draws from ``[0.1, 0.2]``. ``Uniform`` and ``ClippedNormal`` parameters are then
  ``(n_agents,)`` vectors; any of them may stay a scalar, shared by every agent, but the vectors of
  one distribution must have the same length. ``Categorical`` takes ``values`` and ``probs`` of
  shape ``(n_agents, m)``, one row per agent; one of them may stay ``(m,)``, shared by every agent
  (shared values with per-agent probabilities, or per-agent values with shared probabilities).

Family parameters draw exactly what they always did (bit for bit, for the same key). With per-agent
parameters, agent ``i`` (row ``i`` of ``sample_types``) draws from agent ``i``'s distribution.
Under ``jax.vmap`` over a leading environment axis of the parameters (leaves ``(n_envs,)`` or
``(n_envs, n_agents[, m])``), each environment samples from its own family or per-agent parameters.

Every sampled value lies in the distribution's ``support()``. ``check_supertype`` validates a
supertype before anything compiles: every invalid setting raises ``ValueError`` naming the field
(and, for a per-agent parameter, the agent index), the value and the valid range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarket.core.validation import check_int, check_range, is_concrete

PROB_SUM_TOLERANCE = 1e-5  # |sum(probs) - 1| allowed for a categorical distribution
AGENT_AXIS = 0  # the agent axis of a per-agent parameter (and the row axis of a per-agent Categorical)
FAMILY_NDIM = 0  # ndim of a Uniform/ClippedNormal parameter shared by the whole family (a scalar)
PER_AGENT_NDIM = 1  # ndim of a per-agent Uniform/ClippedNormal parameter: (n_agents,)
CATEGORICAL_FAMILY_NDIM = 1  # ndim of a Categorical's values/probs shared by the whole family: (m,)
CATEGORICAL_PER_AGENT_NDIM = 2  # ndim of a per-agent Categorical's values/probs: (n_agents, m)
MIN_AGENTS = 1  # the fewest agents a per-agent parameter (or ``n_agents``) may describe
MIN_CATEGORIES = 1  # the fewest values a Categorical may hold


class Distribution(Protocol):
    """What a supertype field holds: ``Uniform``, ``ClippedNormal`` or ``Categorical``."""

    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array: ...

    def support(self) -> tuple[Any, Any]: ...

    def agent_count(self, field: str = ..., n_agents: int | None = None) -> int | None: ...

    def check(self, field: str, n_agents: int | None = None) -> None: ...


def _concrete(*values: Any) -> bool:
    return all(is_concrete(v) for v in values)


def _shape(field: str, value: Any) -> tuple[int, ...]:
    """The static shape of a parameter (concrete or traced); ``ValueError`` for a ragged list."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return tuple(shape)
    if isinstance(value, (list, tuple)) and value and not is_concrete(value):  # e.g. a tuple batched by vmap
        return (len(value), *_shape(f"{field}[0]", value[0]))
    try:
        return tuple(np.shape(value))
    except ValueError:
        raise ValueError(f"{field} = {value!r} is not a number or a rectangular array of numbers") from None


def _display(entry: Any) -> float:
    """One parameter entry as a Python float, written as the shortest decimal of its own dtype (a
    float32 0.9 shows as 0.9, not 0.8999999761581421)."""
    return float(str(entry)) if np.asarray(entry).dtype.kind == "f" else float(entry)


def _agent_axis(field: str, params: Mapping[str, Any], n_agents: int | None, *, concrete_only: bool) -> int | None:
    """The number of agents of a ``Uniform``/``ClippedNormal`` (the common length of its ``(n,)``
    parameters), or ``None`` when every parameter is a scalar. Reads static shapes only; with
    ``concrete_only``, traced parameters are skipped.

    Raises ``ValueError`` for a parameter of 2 or more dimensions, an empty one, vectors of
    different lengths, or (with ``n_agents``) a vector whose length is not ``n_agents``."""
    count, counted = None, ""
    for name, value in params.items():
        if concrete_only and not is_concrete(value):
            continue
        shape = _shape(f"{field}.{name}", value)
        if len(shape) == FAMILY_NDIM:
            continue
        if len(shape) != PER_AGENT_NDIM:
            raise ValueError(f"{field}.{name} has shape {shape}: expected a scalar, shape (), for the whole family, "
                             "or a vector, shape (n_agents,), one value per agent")
        length = shape[AGENT_AXIS]
        if n_agents is not None and length != n_agents:
            raise ValueError(f"{field}.{name} has {length} entries: need one per agent, n_agents = {n_agents} "
                             "(or a scalar for the whole family)")
        if length < MIN_AGENTS:
            raise ValueError(f"{field}.{name} has {length} entries: need one per agent, at least {MIN_AGENTS} "
                             "(or a scalar for the whole family)")
        if count is not None and length != count:
            raise ValueError(f"{field}.{name} has {length} entries but {field}.{counted} has {count}: the "
                             "per-agent parameters of a distribution need the same number of entries, one per "
                             "agent (or a scalar for the whole family)")
        count, counted = length, name
    return count


def _categorical_agent_axis(field: str, values: Any, probs: Any, n_agents: int | None) -> int | None:
    """The number of agents of a ``Categorical`` (the rows of its ``(n, m)`` values or probs), or
    ``None`` when both are ``(m,)``. Reads static shapes only.

    Raises ``ValueError`` unless each of ``values`` and ``probs`` is ``(m,)`` or ``(n, m)`` with
    the same ``m >= 1`` (and the same ``n >= 1`` where both are 2-D), or (with ``n_agents``) when
    ``n`` is not ``n_agents``."""
    shapes = {"values": _shape(f"{field}.values", values), "probs": _shape(f"{field}.probs", probs)}
    ndims = (CATEGORICAL_FAMILY_NDIM, CATEGORICAL_PER_AGENT_NDIM)
    rows = {name: shape[AGENT_AXIS] for name, shape in shapes.items() if len(shape) == CATEGORICAL_PER_AGENT_NDIM}
    valid = (
        all(len(shape) in ndims for shape in shapes.values())
        and shapes["values"][-1] == shapes["probs"][-1] >= MIN_CATEGORIES
        and all(n >= MIN_AGENTS for n in rows.values())
        and len(set(rows.values())) <= 1
    )
    if not valid:
        raise ValueError(
            f"{field}: values shape {shapes['values']} and probs shape {shapes['probs']} must each be (m,) for the "
            f"whole family or (n_agents, m), one row per agent, with the same m >= {MIN_CATEGORIES} (and the same "
            "n_agents where both have rows)"
        )
    for name, n in rows.items():
        if n_agents is not None and n != n_agents:
            raise ValueError(f"{field}.{name} has {n} rows: need one per agent, n_agents = {n_agents} "
                             "(or shape (m,) for the whole family)")
    return next(iter(rows.values()), None)


def _per_agent(value: Any, count: int | None) -> Any:
    """``value`` unchanged when ``count`` is ``None``, else broadcast to ``(count,)``: a numpy array
    when concrete, a JAX array when traced."""
    if count is None:
        return value
    if is_concrete(value):
        return np.broadcast_to(np.asarray(value), (count,))
    return jnp.broadcast_to(jnp.asarray(value), (count,))


def _check_param(field: str, name: str, value: Any, low: float = -math.inf, high: float = math.inf, *,
                 per_agent: bool) -> None:
    """``check_range`` of ``field.name``; for a per-agent parameter (one entry or one row per agent),
    the message names the first agent holding a bad entry: ``field[agent i].name = x is out of
    range: valid range is [low, high]``. Traced values are skipped."""
    if not per_agent:
        check_range(f"{field}.{name}", value, low, high)
        return
    if not is_concrete(value):
        return
    entries = np.asarray(value)
    if entries.dtype.kind not in "biuf":
        check_range(f"{field}.{name}", value)  # raises: not a number
    rows = entries.reshape(entries.shape[AGENT_AXIS], -1)
    floats = rows.astype(np.float64)
    bad = ~(np.isfinite(floats) & (floats >= low) & (floats <= high))
    if bad.any():
        agent = int(np.argmax(bad.any(axis=1)))
        shown = _display(rows[agent][bad[agent]][0])
        raise ValueError(f"{field}[agent {agent}].{name} = {shown!r} is out of range: valid range is [{low}, {high}]")


FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32 magnitude


def _check_not_subnormal(field: str, name: str, value: Any) -> None:
    """Raise ``ValueError`` for a non-zero bound smaller in magnitude than ``FLOAT32_TINY``: XLA's
    CPU and GPU kernels flush such subnormal float32 values to zero, so draws would leave the interval."""
    values = np.abs(np.asarray(value, np.float64)).reshape(-1)
    bad = (values > 0) & (values < FLOAT32_TINY)
    if bad.any():
        raise ValueError(f"{field}: {name} = {value!r} is subnormal in float32: need 0 or a magnitude of at least "
                         f"{FLOAT32_TINY:.4g} (XLA flushes subnormals to zero)")


def _check_interval(field: str, low: Any, high: Any, count: int | None) -> None:
    """Raise ``ValueError`` unless ``low`` and ``high`` are finite, zero or normal float32 magnitudes,
    and ``low <= high`` (for every agent when ``count`` is the number of agents; the message then
    names the agent)."""
    _check_param(field, "low", low, per_agent=np.ndim(low) == PER_AGENT_NDIM)
    _check_param(field, "high", high, per_agent=np.ndim(high) == PER_AGENT_NDIM)
    if not _concrete(low, high):
        return
    _check_not_subnormal(field, "low", low)
    _check_not_subnormal(field, "high", high)
    if count is None:
        if float(low) > float(high):
            raise ValueError(f"{field}: low = {low!r} > high = {high!r}: need low <= high")
        return
    lows, highs = _per_agent(low, count), _per_agent(high, count)
    bad = lows.astype(np.float64) > highs.astype(np.float64)
    if bad.any():
        agent = int(np.argmax(bad))
        raise ValueError(f"{field}[agent {agent}]: low = {_display(lows[agent])!r} > high = "
                         f"{_display(highs[agent])!r}: need low <= high")


@struct.dataclass
class Uniform:
    """Uniform on ``[low, high]`` (``low == high`` gives a constant).

    Attributes:
      low, high: float scalars, one interval for the whole family, or ``(n_agents,)`` vectors, one
        interval per agent (agent ``i`` draws from ``[low[i], high[i]]``); a scalar beside a vector
        is shared by every agent.
    """

    low: Any
    high: Any

    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        """Float32 draws of shape ``shape``; per-agent parameters broadcast against ``shape``,
        whose last axis is then the agent axis (``(n_agents,)`` for ``sample_types``)."""
        low, high = jnp.asarray(self.low, jnp.float32), jnp.asarray(self.high, jnp.float32)
        return low + (high - low) * jax.random.uniform(key, shape, jnp.float32)

    def support(self) -> tuple[Any, Any]:
        """``(low, high)``: the parameters as given for a family; ``(n_agents,)`` arrays (numpy when
        concrete, JAX when traced) for a per-agent distribution. ``ValueError`` as ``agent_count``."""
        count = self.agent_count()
        return _per_agent(self.low, count), _per_agent(self.high, count)

    def agent_count(self, field: str = "Uniform", n_agents: int | None = None) -> int | None:
        """The number of agents (the length of the ``(n,)`` parameters), or ``None`` for scalar
        parameters. Reads static shapes, so traced parameters are read too.

        Raises:
          ValueError: naming ``field``, for a parameter of 2 or more dimensions, an empty one,
            vectors of different lengths, or (with ``n_agents``) a length other than ``n_agents``.
        """
        return _agent_axis(field, {"low": self.low, "high": self.high}, n_agents, concrete_only=False)

    def check(self, field: str, n_agents: int | None = None) -> None:
        """Raise ``ValueError`` naming ``field`` (and the agent, for per-agent parameters) unless
        the shapes are valid (see ``agent_count``; with ``n_agents``, vectors need exactly
        ``n_agents`` entries), ``low`` and ``high`` are finite and ``low <= high``. Traced
        parameters are skipped."""
        count = _agent_axis(field, {"low": self.low, "high": self.high}, n_agents, concrete_only=True)
        _check_interval(field, self.low, self.high, count)


@struct.dataclass
class ClippedNormal:
    """Normal(``mean``, ``std``) clipped to ``[low, high]``.

    Attributes:
      mean, std, low, high: float scalars, one distribution for the whole family, or
        ``(n_agents,)`` vectors of one common length, one distribution per agent; a scalar beside
        vectors is shared by every agent. ``std >= 0`` (0 gives ``clip(mean, low, high)``).
    """

    mean: Any
    std: Any
    low: Any
    high: Any

    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        """Float32 draws of shape ``shape``; per-agent parameters broadcast against ``shape``,
        whose last axis is then the agent axis (``(n_agents,)`` for ``sample_types``)."""
        mean, std, low, high = (jnp.asarray(v, jnp.float32) for v in (self.mean, self.std, self.low, self.high))
        draw = mean + std * jax.random.normal(key, shape, jnp.float32)
        return jnp.clip(draw, low, high).astype(jnp.float32)

    def support(self) -> tuple[Any, Any]:
        """``(low, high)``: the parameters as given for a family; ``(n_agents,)`` arrays (numpy when
        concrete, JAX when traced) when any parameter is per agent. ``ValueError`` as
        ``agent_count``."""
        count = self.agent_count()
        return _per_agent(self.low, count), _per_agent(self.high, count)

    def _params(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "low": self.low, "high": self.high}

    def agent_count(self, field: str = "ClippedNormal", n_agents: int | None = None) -> int | None:
        """The number of agents (the length of the ``(n,)`` parameters), or ``None`` for scalar
        parameters. Reads static shapes, so traced parameters are read too.

        Raises:
          ValueError: naming ``field``, for a parameter of 2 or more dimensions, an empty one,
            vectors of different lengths, or (with ``n_agents``) a length other than ``n_agents``.
        """
        return _agent_axis(field, self._params(), n_agents, concrete_only=False)

    def check(self, field: str, n_agents: int | None = None) -> None:
        """Raise ``ValueError`` naming ``field`` (and the agent, for per-agent parameters) unless
        the shapes are valid (see ``agent_count``; with ``n_agents``, vectors need exactly
        ``n_agents`` entries), every parameter is finite, ``std >= 0`` and ``low <= high``.
        Traced parameters are skipped."""
        count = _agent_axis(field, self._params(), n_agents, concrete_only=True)
        _check_param(field, "mean", self.mean, per_agent=np.ndim(self.mean) == PER_AGENT_NDIM)
        _check_param(field, "std", self.std, 0.0, per_agent=np.ndim(self.std) == PER_AGENT_NDIM)
        _check_interval(field, self.low, self.high, count)


@struct.dataclass
class Categorical:
    """One of ``values`` with probabilities ``probs``.

    Attributes:
      values, probs: float arrays of shape ``(m,)`` for the whole family (``probs`` summing to 1),
        or ``(n_agents, m)``, one row per agent (agent ``i`` draws ``values[i, j]`` with
        probability ``probs[i, j]``; each row of ``probs`` sums to 1). One of the two may stay
        ``(m,)`` beside an ``(n_agents, m)`` other: shared values with per-agent probabilities, or
        per-agent values with shared probabilities. ``m >= 1``.
    """

    values: Any
    probs: Any

    def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        """Float32 draws of shape ``shape``; per-agent rows broadcast against ``shape``, whose last
        axis is then the agent axis (``(n_agents,)`` for ``sample_types``)."""
        probs = jnp.asarray(self.probs, jnp.float32)
        index = jax.random.categorical(key, jnp.log(probs), shape=shape)
        values = jnp.asarray(self.values, jnp.float32)
        if values.ndim == CATEGORICAL_FAMILY_NDIM:
            return values[index]
        rows = jnp.broadcast_to(values, (*index.shape, values.shape[-1]))
        return jnp.take_along_axis(rows, index[..., None], axis=-1)[..., 0]

    def support(self) -> tuple[Any, Any]:
        """``(min(values), max(values))``: scalars for a family; ``(n_agents,)`` arrays (each
        agent's row; numpy when concrete, JAX when traced) for a per-agent distribution.
        ``ValueError`` as ``agent_count``."""
        count = self.agent_count()
        values = jnp.asarray(self.values) if not is_concrete(self.values) else np.asarray(self.values)
        return _per_agent(values.min(axis=-1), count), _per_agent(values.max(axis=-1), count)

    def agent_count(self, field: str = "Categorical", n_agents: int | None = None) -> int | None:
        """The number of agents (the rows of the ``(n, m)`` values or probs), or ``None`` when both
        are ``(m,)``. Reads static shapes, so traced parameters are read too.

        Raises:
          ValueError: naming ``field``, unless each of values and probs is ``(m,)`` or ``(n, m)``
            with one ``m >= 1`` and one ``n >= 1``, or (with ``n_agents``) when ``n`` is not
            ``n_agents``.
        """
        return _categorical_agent_axis(field, self.values, self.probs, n_agents)

    def check(self, field: str, n_agents: int | None = None) -> None:
        """Raise ``ValueError`` naming ``field`` (and the agent, for per-agent rows) unless the
        shapes are valid (see ``agent_count``), every value is finite, every probability is in
        ``[0, 1]`` and each row of ``probs`` sums to 1 (within ``PROB_SUM_TOLERANCE``). Skipped
        when either parameter is traced."""
        if not _concrete(self.values, self.probs):
            return
        values, probs = np.asarray(self.values), np.asarray(self.probs)
        _categorical_agent_axis(field, values, probs, n_agents)
        if values.ndim == CATEGORICAL_PER_AGENT_NDIM:
            _check_param(field, "values", values, per_agent=True)
        else:
            check_range(f"{field}.values", values)
        if probs.ndim == CATEGORICAL_FAMILY_NDIM:
            check_range(f"{field}.probs", probs, 0.0, 1.0)
            total = probs.astype(np.float64).sum()
            if abs(total - 1.0) > PROB_SUM_TOLERANCE:
                raise ValueError(f"{field}.probs sum to {total!r}: they must sum to 1 (within {PROB_SUM_TOLERANCE})")
            return
        _check_param(field, "probs", probs, 0.0, 1.0, per_agent=True)
        sums = probs.astype(np.float64).sum(axis=-1)
        bad = np.abs(sums - 1.0) > PROB_SUM_TOLERANCE
        if bad.any():
            agent = int(np.argmax(bad))
            raise ValueError(f"{field}[agent {agent}].probs sum to {float(sums[agent])!r}: they must sum to 1 "
                             f"(within {PROB_SUM_TOLERANCE})")


Supertype = Mapping[str, Any]
"""A mapping from type field name to a distribution (``Uniform``, ``ClippedNormal``, ``Categorical``),
each with family (scalar) or per-agent parameters."""


def sample_types(key: jax.Array, supertype: Supertype, fields: tuple[str, ...], n: int) -> jax.Array:
    """Draw ``n`` agents' types.

    Args:
      key: a typed PRNG key (``jax.random.key``), consumed here.
      supertype: field name to distribution, with family or per-agent parameters.
      fields: the fields to draw, in column order.
      n: the number of agents (a static Python int).

    Returns:
      Float32 ``(n, len(fields))``: column ``i`` from ``supertype[fields[i]]``; with per-agent
      parameters, row ``j`` (agent ``j``) from agent ``j``'s distribution. Family parameters give
      the same draws, for the same key, as they always did.

    Raises:
      ValueError: a per-agent distribution whose agent axis is not ``n`` long, or parameters of an
        invalid shape (see ``agent_count``). Shapes are static, so this is raised at trace time
        under ``jit``; under ``jax.vmap`` over an environment axis of the parameters, the shapes
        read are those of one environment's parameters.
    """
    keys = jax.random.split(key, len(fields))
    columns = []
    for name, k in zip(fields, keys):
        dist = supertype[name]
        dist.agent_count(f"supertype[{name!r}]", n)
        columns.append(dist.sample(k, (n,)))
    return jnp.stack(columns, axis=-1) if columns else jnp.zeros((n, 0), jnp.float32)


def check_supertype(
    family: str, supertype: Supertype, bounds: Mapping[str, tuple[float, float]], n_agents: int | None = None
) -> None:
    """Check a supertype before anything compiles.

    Args:
      family: the family's name, used in messages as ``{family}_supertype[field]``.
      supertype: field name to distribution, with family (scalar) or per-agent parameters.
      bounds: field name to its valid ``(low, high)``; the supertype needs exactly these fields.
      n_agents: the family's number of agents, or ``None``. With an int, every per-agent parameter
        needs exactly ``n_agents`` entries (rows, for ``Categorical``); with ``None``, per-agent
        parameters only need one common length within each distribution.

    Raises:
      ValueError: ``n_agents`` not an int >= 1; a supertype that is not a mapping, or missing or
        unknown fields; a field that is not a distribution; an invalid distribution (see each
        ``check``; e.g. ``lp_supertype['omega'].low has 2 entries: need one per agent, n_agents = 3
        (or a scalar for the whole family)`` or ``lp_supertype['omega'][agent 1]: low = 0.9 > high =
        0.2: need low <= high``); a support outside the field's bounds, for the family or for one
        agent (``lp_supertype['omega'][agent 2] has support [-0.5, 1.0], outside the valid range
        [0.0, 1.0]``). Traced parameters are skipped (and the support of a distribution with any
        traced parameter).
    """
    if n_agents is not None:
        check_int("n_agents", n_agents, MIN_AGENTS)
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
        if not all(hasattr(dist, attr) for attr in ("sample", "support", "agent_count", "check")):
            raise ValueError(f"{field} = {dist!r} is not a distribution: use Uniform, ClippedNormal or Categorical")
        dist.check(field, n_agents)
        if not _concrete(*jax.tree_util.tree_leaves(dist)):
            continue  # traced parameters: checked where they were made
        lo, hi = dist.support()
        if np.ndim(lo) == FAMILY_NDIM and np.ndim(hi) == FAMILY_NDIM:
            if float(lo) < low or float(hi) > high:
                raise ValueError(
                    f"{field} has support [{float(lo)}, {float(hi)}], outside the valid range [{low}, {high}]"
                )
            continue
        los, his = np.broadcast_arrays(np.asarray(lo), np.asarray(hi))
        outside = (los.astype(np.float64) < low) | (his.astype(np.float64) > high)
        if outside.any():
            agent = int(np.argmax(outside))
            raise ValueError(f"{field}[agent {agent}] has support [{_display(los[agent])}, {_display(his[agent])}], "
                             f"outside the valid range [{low}, {high}]")
