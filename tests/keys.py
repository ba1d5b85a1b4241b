"""Deliberate key reuse in tests: replaying a computation with the same randomness."""

from __future__ import annotations

from typing import Any

import jax


def clone_keys(tree: Any) -> Any:
    """``tree`` with every typed PRNG key leaf replaced by ``jax.random.clone`` of it, so that the
    same draws can be made twice without tripping the key-reuse checker."""
    def clone(leaf: Any) -> Any:
        is_key = isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        return jax.random.clone(leaf) if is_key else leaf

    return jax.tree.map(clone, tree)
