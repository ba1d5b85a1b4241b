"""The suite runs with JAX's key-reuse checking on, and the project makes the typed keys it can see."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxmarket as jm

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("jaxmarket", "training", "benchmarks", "tests", "docs", "README.md")
RAW_KEY = re.compile(r"PRNGKey\(")  # raw uint32 keys are invisible to the checker
ALLOWED = {Path(__file__).resolve()}  # this file names the pattern it forbids


def _files() -> list[Path]:
    files = []
    for name in SOURCES:
        path = ROOT / name
        files += [path] if path.is_file() else [*path.rglob("*.py"), *path.rglob("*.md")]
    return [f for f in files if f.resolve() not in ALLOWED]


def test_checking_is_on() -> None:
    assert jax.config.jax_debug_key_reuse


def test_no_raw_keys_in_the_project() -> None:
    found = [f"{f.relative_to(ROOT)}:{n}" for f in _files()
             for n, line in enumerate(f.read_text().splitlines(), 1) if RAW_KEY.search(line)]
    assert found == [], f"use jax.random.key (typed keys) instead of raw keys at {found}"


def test_a_reused_key_is_caught_eagerly_in_jit_and_in_a_vmapped_scan() -> None:
    """The checker's switch works where the project draws: eagerly, inside ``jit`` and inside a
    vmapped ``lax.scan`` (where ``check_key_reuse`` registers ``transpose`` as forwarding keys)."""
    key = jax.random.key(0)
    jax.random.normal(key)
    with pytest.raises(jax.errors.KeyReuseError):
        jax.random.uniform(key)
    with pytest.raises(jax.errors.KeyReuseError):
        jax.jit(lambda k: jax.random.normal(k) + jax.random.uniform(k))(jax.random.key(1))

    def rollout(key: jax.Array, reuse: bool) -> jax.Array:
        def step(total: jax.Array, k: jax.Array) -> tuple[jax.Array, None]:
            a, b = jax.random.split(k)
            return total + jax.random.normal(a) + jax.random.normal(a if reuse else b), None
        return jax.lax.scan(step, 0.0, jax.random.split(key, 4))[0]

    batched = jax.jit(jax.vmap(rollout, (0, None)), static_argnums=1)
    batched(jax.random.split(jax.random.key(2), 3), False)  # no reuse: runs
    with pytest.raises(jax.errors.KeyReuseError):
        batched(jax.random.split(jax.random.key(3), 3), True)


@pytest.mark.parametrize("seed", [2**32 + 5, np.int64(2**32 + 5), -1, 2.5, jax.numpy.array(-1), jax.numpy.array(7.9)])
def test_seeds_that_would_wrap_are_refused(seed) -> None:
    """``jax.random.key`` keeps a seed's low 32 bits: 5 and 2**32 + 5 would be one stream."""
    with pytest.raises(ValueError, match=r"seed = .* valid range is \[0, 4294967295\]"):
        jm.seed_key(seed)
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0")
    with pytest.raises(ValueError, match=r"seed = .* valid range is \[0, 4294967295\]"):
        jm.evaluate(env, params, jm.random_policy(env), num_episodes=2, seed=seed)


def test_a_seed_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="seed = '5' is not a number"):
        jm.seed_key("5")


def test_seed_keys_are_typed_and_distinct_at_the_bounds() -> None:
    keys = [jm.seed_key(s) for s in (0, 5, jm.core.MAX_SEED, np.uint32(7))]
    assert all(jax.dtypes.issubdtype(k.dtype, jax.dtypes.prng_key) for k in keys)
    data = {tuple(np.asarray(jax.random.key_data(k)).tolist()) for k in keys}
    assert len(data) == len(keys)
