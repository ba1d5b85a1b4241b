"""PRNG keys: from user seeds, and JAX's key-reuse checking.

``jax.random.key(seed)`` keeps only the low 32 bits of a seed when 64-bit types are off (JAX's
default), so seeds 5 and ``2**32 + 5`` would give the same stream, and -1 the same as
``2**32 - 1``. Every seed a user gives jaxmarket goes through ``seed_key``, which refuses a seed
outside ``[0, MAX_SEED]`` instead, and returns a typed key (the kind JAX's key-reuse checker sees).

``check_key_reuse()`` turns on JAX's key-reuse checking (``jax_debug_key_reuse``): a typed key fed
to two random draws then raises ``KeyReuseError``, eagerly or inside ``jit``. jaxmarket's test
suite runs with it on.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.experimental.key_reuse import _core as key_reuse_rules

from jaxmarket.core.validation import check_int

MAX_SEED = 2**32 - 1  # seeds in [0, MAX_SEED] give distinct keys


def seed_key(seed: Any, field: str = "seed") -> jax.Array:
    """A typed PRNG key for a user's seed.

    Args:
      seed: an integer in ``[0, MAX_SEED]`` (Python or numpy).
      field: the name the error message gives the seed (e.g. ``"--seed"``).

    Returns:
      A typed key, ``jax.random.key(seed)``: shape ``()``, a key dtype.

    Raises:
      ValueError: ``seed`` is not an integer in ``[0, MAX_SEED]``.
    """
    check_int(field, seed, 0, MAX_SEED)
    return jax.random.key(int(seed))


def check_key_reuse(enabled: bool = True) -> None:
    """Turn JAX's key-reuse checking on (``enabled=True``) or off, for typed keys.

    The checker treats a primitive it has no rule for as consuming its keys. JAX 0.10 has no rule
    for ``transpose``, which ``vmap`` inserts when it batches a ``lax.scan`` over keys, so every
    vmapped rollout (``jm.evaluate``, the trainers) would be reported as reusing its keys. A
    transpose moves keys without duplicating them, so this first registers it as forwarding them,
    as JAX's rules do for ``reshape`` (through JAX's experimental ``key_reuse`` module; an existing
    rule is kept).
    """
    key_reuse_rules.key_reuse_signatures.setdefault(
        jax.lax.transpose_p, key_reuse_rules.KeyReuseSignature(key_reuse_rules.Forward(0, 0)))
    jax.config.update("jax_debug_key_reuse", bool(enabled))
