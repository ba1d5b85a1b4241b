"""Fixtures shared by the env tests."""

import jax
import pytest

from jaxmarket import lob


@pytest.fixture(scope="module")
def apply_jit():
    """``lob.apply`` jitted, built once per test module (it compiles once per book shape)."""
    return jax.jit(lob.apply)
