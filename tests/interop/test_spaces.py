"""gymnax spaces converted to gymnasium's, and actions from numpy code checked against them."""

import gymnasium
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxmarket.core import spaces
from jaxmarket.interop.spaces import check_action, to_gymnasium_space, zero_action

BOX = gymnasium.spaces.Box(low=np.array([0.0, -1.0], np.float32), high=np.array([1.0, 1.0], np.float32))
DISCRETE = gymnasium.spaces.Discrete(5)


def test_box_bounds_are_broadcast_to_the_shape_with_the_dtype():
    space = to_gymnasium_space(spaces.Box(0.0, 2.5, (3,), jnp.float32))
    assert isinstance(space, gymnasium.spaces.Box) and space.shape == (3,) and space.dtype == np.float32
    np.testing.assert_array_equal(space.low, np.zeros(3, np.float32))
    np.testing.assert_array_equal(space.high, np.full(3, 2.5, np.float32))


def test_discrete_dict_and_tuple_convert_recursively():
    space = to_gymnasium_space(spaces.Dict({"a": spaces.Discrete(4), "b": spaces.Tuple([spaces.Discrete(2), spaces.Box(-1, 1, (2,), jnp.float32)])}))
    assert space["a"] == gymnasium.spaces.Discrete(4)
    assert space["b"][0] == gymnasium.spaces.Discrete(2)
    assert space["b"][1] == gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)


def test_an_unknown_space_is_refused():
    with pytest.raises(ValueError, match="not a gymnax Discrete, Box, Dict or Tuple"):
        to_gymnasium_space(object())


@pytest.mark.parametrize("action", [3, np.int64(3), np.array(3, np.int16), np.uint8(3)])
def test_discrete_actions_of_any_integer_type_become_int32(action):
    out = check_action("action", action, DISCRETE)
    assert out.dtype == np.int32 and out.shape == () and int(out) == 3


@pytest.mark.parametrize("action, message", [
    (3.0, r"dtype float64: expected integers \(codes in \[0, 5\)\)"),
    (np.array([3]), r"shape \(1,\): expected shape \(\)"),
    (True, "dtype bool"),
    (np.int64(2**32 + 3), "int32"),
])
def test_discrete_actions_of_another_kind_are_refused_naming_what_was_expected(action, message):
    with pytest.raises(ValueError, match=message):
        check_action("action", action, DISCRETE)


def test_box_actions_are_cast_to_the_space_dtype_and_out_of_bounds_values_pass():
    out = check_action("action", [5, -7], BOX)  # out of bounds: the env clips and counts them
    assert out.dtype == np.float32 and out.tolist() == [5.0, -7.0]


@pytest.mark.parametrize("action, message", [
    (np.zeros(3), r"shape \(3,\): expected shape \(2,\) of real numbers \(taken as float32\)"),
    (np.zeros((1, 2)), r"shape \(1, 2\)"),
    (np.array([True, False]), "dtype bool"),
    (np.array([1j, 0]), "dtype complex128"),
    (np.array(["a", "b"]), "dtype <U1"),
])
def test_box_actions_of_the_wrong_shape_or_dtype_are_refused(action, message):
    with pytest.raises(ValueError, match=message):
        check_action("action", action, BOX)


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 3), max_size=3).map(tuple), batch=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.complex64]))
def test_a_batched_action_is_accepted_exactly_when_shape_and_dtype_fit(shape, batch, dtype):
    """Differential against gymnasium: a batch passes iff it is ``batch`` rows of the space's shape
    with a real dtype, and then every row is an element of gymnasium's space."""
    space = gymnasium.spaces.Box(0.0, 1.0, (2,), np.float32)
    action = np.zeros((batch, *shape), dtype)
    if shape == (2,) and np.dtype(dtype).kind in "iuf":
        out = check_action("actions", action, space, (batch,))
        assert out.shape == (batch, 2) and all(space.contains(row) for row in out)
    else:
        with pytest.raises(ValueError, match="actions has (shape|dtype)"):
            check_action("actions", action, space, (batch,))


def test_zero_action_has_the_checked_dtype():
    assert zero_action(DISCRETE).dtype == np.int32 and zero_action(DISCRETE).shape == ()
    assert zero_action(BOX).dtype == np.float32 and zero_action(BOX).shape == (2,)
