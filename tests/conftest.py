"""Shared test settings: CPU only, float32 as in production, and JAX's key-reuse checking on.

Key-reuse checking (``jaxmarket.core.keys.check_key_reuse``, JAX's ``jax_debug_key_reuse``)
raises ``KeyReuseError`` wherever one typed PRNG key (``jax.random.key``) feeds two random draws,
eagerly or inside ``jit``. It cannot see raw ``jax.random.PRNGKey`` arrays, so the project creates
typed keys only (``tests/core/test_keys.py`` checks both).
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from jaxmarket.core.keys import check_key_reuse  # noqa: E402

check_key_reuse()
