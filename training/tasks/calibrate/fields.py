"""The free parameters of an OTC calibration: named entries of ``OTCParams``.

A name is a path to a number of ``OTCParams``, optionally with an index:

- a scalar field: ``"annual_vol"``, ``"impact"``, ``"p_buy"``...;
- ``"p_connect[j]"``: LP j's connectivity (the field becomes one probability per LP);
- ``"hour_profile[h]"``: the arrival multiplier of hour ``h``; ``"hour_profile"``: all 24;
- a supertype parameter: ``"lp_supertype.omega.low"`` (every LP's) or
  ``"lp_supertype.omega.low[j]"`` (LP j's own: the distribution becomes per agent);
  ``"lt_supertype.FIELD.PARAM[i]"`` for client i (RL clients first, then flow clients).
  Parameters of ``Uniform`` (low, high) and ``ClippedNormal`` (mean, std, low, high) can be free.

A name without an index on a vector field frees each entry (``"hour_profile"`` is 24 entries).
Each free entry has bounds ``[low, high]`` inside the field's valid range (checked by setting the
field to each bound and running the market's parameter checks).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarket.otc.market import OTCConfig, OTCParams, check_params_for
from jaxmarket.otc.seasonality import HOURS_PER_DAY

SUPERTYPES = ("lp_supertype", "lt_supertype")
DISTRIBUTION_PARAMS = ("low", "high", "mean", "std")  # free-able numeric parameters of a distribution
FIXED_FIELDS = ("n_rounds", "series", "tier_probs", "rounds_per_year")
"""Fields that cannot be free: the episode length (an outer iteration is one episode), the replay
series, the tier probabilities (a simplex) and the clock's year."""

_PATH = re.compile(r"^([a-z_0-9]+)(?:\.([a-z_0-9]+)\.([a-z_0-9]+))?(?:\[(\d+)\])?$")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One free number: the field path (1 or 3 names) and its index in a vector field (or None)."""

    path: tuple[str, ...]
    index: int | None

    @property
    def name(self) -> str:
        return ".".join(self.path) + ("" if self.index is None else f"[{self.index}]")


def _get(params: OTCParams, path: tuple[str, ...]) -> Any:
    if len(path) == 1:
        return getattr(params, path[0])
    return getattr(getattr(params, path[0])[path[1]], path[2])


def _set(params: OTCParams, path: tuple[str, ...], value: Any) -> OTCParams:
    if len(path) == 1:
        return params.replace(**{path[0]: value})
    supertype = dict(getattr(params, path[0]))
    supertype[path[1]] = supertype[path[1]].replace(**{path[2]: value})
    return params.replace(**{path[0]: supertype})


def vector_size(path: tuple[str, ...], config: OTCConfig) -> int:
    """Entries of the field at ``path`` once per agent or per hour: n_lps, n_clients or 24."""
    if path[0] == "hour_profile":
        return HOURS_PER_DAY
    if path[0] in ("p_connect", "lp_supertype"):
        return config.n_lps
    return config.n_clients


def parse(name: Any, config: OTCConfig, params: OTCParams, where: str) -> list[Entry]:
    """The free entries a name stands for (see the module docstring).

    Raises:
      ValueError: naming ``where`` (e.g. ``free[0].field``): an unknown or fixed field, a supertype
        field or distribution parameter that does not exist, an index on a scalar-only field, or an
        index outside ``[0, size)``.
    """
    match = _PATH.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"{where} = {name!r} is not a field path: use e.g. 'annual_vol', 'hour_profile[3]', "
                         "'p_connect[0]' or 'lp_supertype.omega.low[0]'")
    field, type_field, param, index = match.groups()
    numeric = [f.name for f in dataclasses.fields(OTCParams) if f.name not in FIXED_FIELDS + SUPERTYPES]
    if field not in numeric + list(SUPERTYPES) or (type_field is None) == (field in SUPERTYPES):
        raise ValueError(f"{where} = {name!r}: {field!r} is not a free-able OTCParams field; valid fields are "
                         f"{sorted(numeric)} and {list(SUPERTYPES)}.FIELD.PARAM (not {list(FIXED_FIELDS)})")
    path: tuple[str, ...] = (field,)
    if type_field is not None:
        supertype = getattr(params, field)
        if type_field not in supertype:
            raise ValueError(f"{where} = {name!r}: {field} has no field {type_field!r}; valid: {sorted(supertype)}")
        dist = supertype[type_field]
        if param not in DISTRIBUTION_PARAMS or not hasattr(dist, param):
            valid = [p for p in DISTRIBUTION_PARAMS if hasattr(dist, p)]
            raise ValueError(f"{where} = {name!r}: {field}[{type_field!r}] is a {type(dist).__name__}, "
                             f"whose free-able parameters are {valid}")
        path = (field, type_field, param)
    vector = path[0] in ("hour_profile", "p_connect") or len(path) == 3
    value = _get(params, path)
    if index is None:
        if path[0] == "hour_profile" or np.ndim(value) == 1:
            return [Entry(path, i) for i in range(vector_size(path, config))]
        return [Entry(path, None)]
    if not vector:
        raise ValueError(f"{where} = {name!r}: {field} is one number, it takes no index")
    size = vector_size(path, config)
    if int(index) >= size:
        raise ValueError(f"{where} = {name!r}: index {index} is out of range, valid range is [0, {size - 1}]")
    return [Entry(path, int(index))]


def promote(params: OTCParams, entries: list[Entry], config: OTCConfig) -> OTCParams:
    """``params`` with each indexed field a float32 vector (a scalar repeated per agent or hour), so
    that its entries can be set one by one."""
    for entry in entries:
        if entry.index is None:
            continue
        value = np.asarray(_get(params, entry.path), np.float32)
        size = vector_size(entry.path, config)
        params = _set(params, entry.path, np.broadcast_to(value, (size,)).copy() if value.ndim == 0 else value)
    return params


def apply(params: OTCParams, entries: list[Entry], theta: jax.Array) -> OTCParams:
    """``params`` (promoted) with entry ``j`` set to ``theta[j]``: traceable, theta (d,) float32."""
    for j, entry in enumerate(entries):
        if entry.index is None:
            params = _set(params, entry.path, theta[j])
        else:
            params = _set(params, entry.path, jnp.asarray(_get(params, entry.path)).at[entry.index].set(theta[j]))
    return params


def check_bounds(params: OTCParams, config: OTCConfig, entry: Entry, low: float, high: float, where: str) -> None:
    """Raise ``ValueError`` unless both bounds are numbers with ``low < high`` and the market's checks
    accept the field at each bound (the message names ``where``, the field, the value and the valid range)."""
    for side, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise ValueError(f"{where}.{side} = {value!r} must be a finite number")
    if not low < high:
        raise ValueError(f"{where}: bounds [{low}, {high}] are empty: need low < high")
    for value in (low, high):
        trial = apply(params, [entry], jnp.asarray([value], jnp.float32))
        trial = jax.tree.map(np.asarray, trial)
        try:
            check_params_for(config, trial)
        except ValueError as err:
            raise ValueError(f"{where} ({entry.name}): bound {value!r} is outside the field's valid range: "
                             f"{err}") from None
