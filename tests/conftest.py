"""Shared test settings: CPU only, float32 as in production."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
