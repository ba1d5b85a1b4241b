"""Range checks for configuration, run before anything is traced or compiled.

Every check raises ``ValueError`` with the field name, the offending value and the valid range,
so a user sees at once what to change.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # JAX's default integer type (64-bit types are off)


def is_concrete_array(value: Any) -> bool:
    """True for a JAX array that holds values (not a tracer inside ``jit``/``vmap``)."""
    return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)


def is_concrete(value: Any) -> bool:
    """True for Python and numpy numbers and arrays, JAX arrays that hold values (not tracers), and
    lists or tuples of them: values a check can read. Tracers inside ``jit``/``vmap`` are not."""
    if isinstance(value, (list, tuple)):
        return all(is_concrete(v) for v in value)
    return isinstance(value, (bool, int, float, np.ndarray, np.number)) or is_concrete_array(value)


def _readable(field: str, value: Any) -> bool:
    """Whether a check can read ``value``: True for concrete numbers and arrays, False for traced
    or abstract values (checked where they were made); ``ValueError`` for anything that is not a
    number at all (a string, None, an object)."""
    if is_concrete(value):
        if np.asarray(value).dtype.kind not in "biuf":
            raise ValueError(f"{field} = {value!r} is not a number")
        return True
    if isinstance(value, (jax.core.Tracer, jax.ShapeDtypeStruct)):
        return False
    raise ValueError(f"{field} = {value!r} is not a number")


def _values(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64).reshape(-1)


def check_range(
    field: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless every element of ``value`` is finite and in the interval.

    ``low_open``/``high_open`` exclude the bound. Traced values are skipped: they are checked
    where they were made. Anything that is not a number raises too.
    """
    if not _readable(field, value):
        return
    values = _values(value)
    lo_ok = values > low if low_open else values >= low
    hi_ok = values < high if high_open else values <= high
    bad = ~(np.isfinite(values) & lo_ok & hi_ok)
    if bad.any():
        shown = value if np.ndim(value) == 0 else values[bad][0]
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{field} = {shown!r} is out of range: valid range is {interval}")


def check_int(field: str, value: Any, low: int = 1, high: float = INT32_MAX) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer in ``[low, high]``.

    ``high`` defaults to ``INT32_MAX``: values that reach a traced computation are int32 there,
    and JAX narrows a larger numpy integer silently. Pass ``high=math.inf`` only for counts that
    stay in Python. A bool is not an integer here."""
    if not _readable(field, value):
        return
    values = _values(value)
    if np.asarray(value).dtype == np.bool_ or not np.all(np.isfinite(values) & (values == np.round(values))):
        raise ValueError(f"{field} = {value!r} is not an integer: valid range is [{low}, {high}]")
    check_range(field, value, low, high)


def fits_int32_dtype(dtype: Any) -> bool:
    """True for dtypes every value of which is an int32 integer (bool, int8..int32, uint8/16)."""
    dtype = np.dtype(dtype)
    return dtype == np.bool_ or (np.issubdtype(dtype, np.integer) and (dtype.itemsize < 4 or dtype == np.int32))


def check_int32(field: str, value: Any, *, integers_only: bool = False) -> None:
    """Raise ``ValueError`` if a concrete leaf of the pytree ``value`` holds an integer outside the
    int32 range ``[INT32_MIN, INT32_MAX]``; with ``integers_only``, also a float that is not a
    finite integer in that range (and any complex number).

    JAX converts a numpy ``int64`` argument of a jitted function to int32 by wrapping it
    (``np.int64(2**32 + 5)`` becomes ``5``), so integers are checked before they cross that
    boundary. Python ints of any size, numpy scalars and arrays, lists and concrete JAX arrays are
    read; tracers are skipped, and so are arrays of a dtype that cannot hold anything else
    (``fits_int32_dtype``), so int32 input costs one dtype test per leaf.
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(value, is_leaf=_is_number_list):
        name = f"{field}{jax.tree_util.keystr(path)}"
        if isinstance(leaf, (bool, np.bool_)) or leaf is None:
            continue
        if isinstance(leaf, int) or _is_number_list(leaf):  # Python ints of any size
            values = np.asarray(leaf if _is_number_list(leaf) else [leaf], dtype=object).reshape(-1)
        elif isinstance(leaf, (float, complex, np.ndarray, np.generic)) or is_concrete_array(leaf):
            if fits_int32_dtype(leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)):
                continue
            values = np.asarray(leaf).reshape(-1)
        else:
            continue
        _check_int32_values(name, values, integers_only)


def _is_number_list(value: Any) -> bool:
    """A list or tuple of Python or numpy numbers: one array-like value, not a pytree of leaves."""
    return isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, complex, np.number)) for v in value)


def _check_int32_values(name: str, values: np.ndarray, integers_only: bool) -> None:
    valid = f"valid range is [{INT32_MIN}, {INT32_MAX}] (int32)"
    if values.dtype == object:  # Python numbers, possibly ints beyond int64
        for v in values:
            if isinstance(v, (bool, np.bool_)):
                continue
            if isinstance(v, (int, np.integer)):
                if not INT32_MIN <= int(v) <= INT32_MAX:
                    raise ValueError(f"{name} = {v!r} is out of range: {valid}")
            elif integers_only:
                _check_int32_values(name, np.asarray([v]), integers_only)
        return
    if np.issubdtype(values.dtype, np.integer):
        outside = (values > INT32_MAX) if values.dtype == np.uint64 else (values < INT32_MIN) | (values > INT32_MAX)
        if outside.any():
            raise ValueError(f"{name} = {values[outside][0]!r} is out of range: {valid}")
        return
    if not integers_only:
        return
    if np.issubdtype(values.dtype, np.complexfloating):
        raise ValueError(f"{name} = {values[0]!r} is not an integer: {valid}")
    floats = values.astype(np.float64)
    integral = np.isfinite(floats) & (floats == np.round(floats))
    if not integral.all():
        raise ValueError(f"{name} = {values[~integral][0]!r} is not an integer: {valid}")
    outside = (floats < INT32_MIN) | (floats > INT32_MAX)
    if outside.any():
        raise ValueError(f"{name} = {values[outside][0]!r} is out of range: {valid}")


def check_within(field: str, value: Any, low: float, high: float, *, integer: bool = False,
                 low_open: bool = False, high_open: bool = False, low_name: str | None = None,
                 high_name: str | None = None) -> None:
    """``check_range`` (or ``check_int``) whose message also names the fields that set the bounds
    (``low_name``, ``high_name``), for pairs of fields that depend on each other."""
    try:
        if integer:
            check_int(field, value, int(low), high)
        else:
            check_range(field, value, low, high, low_open=low_open, high_open=high_open)
    except ValueError as error:
        names = [f"{name} = {bound!r}" for name, bound in ((low_name, low), (high_name, high)) if name]
        if names:
            raise ValueError(f"{error} (set by {' and '.join(names)})") from None
        raise


def check_order(low_field: str, low: Any, high_field: str, high: Any) -> None:
    """Raise ``ValueError`` unless ``low <= high`` (skipped for non-concrete values)."""
    if is_concrete(low) and is_concrete(high) and float(low) > float(high):
        raise ValueError(f"{low_field} = {low!r} > {high_field} = {high!r}: need {low_field} <= {high_field}")


def check_bool(field: str, value: Any) -> None:
    """Raise ``ValueError`` unless a concrete ``value`` is a bool (Python or numpy); traced values
    are skipped."""
    if not _readable(field, value):
        return
    if np.asarray(value).dtype != np.bool_ or np.ndim(value) != 0:
        raise ValueError(f"{field} = {value!r} is not valid: choose True or False")


def check_choice(field: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices`` (traced values are skipped)."""
    if isinstance(value, jax.core.Tracer):
        return
    if value not in choices:
        raise ValueError(f"{field} = {value!r} is not valid: choose one of {choices}")


def check_overrides(cls: type, overrides: dict[str, Any], what: str) -> None:
    """Raise ``ValueError`` for override names that are not fields of the dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown {what} field(s) {unknown}: valid fields are {sorted(names)}")


def check_32_bit() -> None:
    """Raise ``ValueError`` if JAX's 64-bit mode is on: the environments are written for its
    default 32-bit types (float32 and int32 state), and under ``jax_enable_x64`` their loops would
    meet float64 constants."""
    if jax.config.jax_enable_x64:
        raise ValueError("jax_enable_x64 = True is not supported by jaxmarket's environments: they run in JAX's "
                         "default 32-bit mode (valid: jax_enable_x64 = False)")


def check_env_params(env: Any, params: Any) -> None:
    """Run ``env.check_params(params)`` where the env has one (jaxmarket envs do; plain gymnax
    envs do not), so any gymnax environment can be trained and evaluated; for a jaxmarket env also
    ``check_32_bit`` and that ``params`` are of its parameters' type (``type(env.default_params)``).

    Raises:
        ValueError: parameters of another type, or those ``env.check_params`` refuses."""
    check = getattr(env, "check_params", None)
    if check is not None:
        check_32_bit()
        expected = type(env.default_params)
        if not isinstance(params, expected):
            raise ValueError(f"env_params: a {type(params).__name__}, expected {expected.__name__} (the parameters of "
                             f"{type(env).__name__})")
        check(params)
