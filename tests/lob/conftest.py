"""Fixtures shared by the order book tests."""

import jax
import pytest

from jaxmarket import lob
from tests.lob.book_impls import RefImpl, jax_impl


@pytest.fixture(scope="module")
def apply_jit():
    """``lob.apply`` jitted, built once per test module (it compiles once per book settings:
    capacity and static fields)."""
    return jax.jit(lob.apply)


@pytest.fixture(params=["jax", "reference"])
def make(request, apply_jit):
    """A factory of books of the implementation under test."""
    return jax_impl(apply_jit) if request.param == "jax" else RefImpl
