"""Supertypes: per-field distributions over agent types (jaxmarket.core.supertypes)."""

from __future__ import annotations

import math
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from jaxmarket.core.supertypes import Categorical, ClippedNormal, Uniform, check_supertype, sample_types

N = 20_000  # samples per distribution
Z = 5.0  # tolerance in standard errors (false-failure rate ~ 1e-6 per check)
SEED = 7


def fresh_key(seed: int = SEED) -> jax.Array:
    """A new typed key: the same seed gives the same draws, without reusing one key object."""
    return jax.random.key(seed)

BOUNDS = {"a": (0.0, 1.0), "b": (-math.inf, math.inf), "c": (0.0, math.inf)}


def draw(dist, n: int = N, key: jax.Array | None = None) -> np.ndarray:
    out = np.asarray(dist.sample(fresh_key() if key is None else key, (n,)))
    assert out.shape == (n,) and out.dtype == np.float32
    return out.astype(np.float64)


def valid_supertype() -> dict:
    return {"a": Uniform(0.2, 0.8), "b": ClippedNormal(0.0, 2.0, -3.0, 3.0), "c": Categorical(np.array([0.0, 2.5]), np.array([0.5, 0.5]))}


# --- sampling ---------------------------------------------------------------------------------------------------


def test_uniform_support_and_moments() -> None:
    low, high = -2.5, 7.0
    x = draw(Uniform(low, high))
    lo, hi = Uniform(low, high).support()
    assert x.min() >= lo and x.max() <= hi
    sd = (high - low) / math.sqrt(12.0)
    assert abs(x.mean() - 0.5 * (low + high)) < Z * sd / math.sqrt(N)
    assert abs(x.std() - sd) < 0.02 * sd
    # it spreads over the whole interval (not e.g. stuck in one half)
    assert x.min() < low + 0.01 * (high - low) and x.max() > high - 0.01 * (high - low)
    assert abs(np.mean(x < 0.5 * (low + high)) - 0.5) < Z * 0.5 / math.sqrt(N)


def test_uniform_degenerate_is_constant() -> None:
    np.testing.assert_array_equal(draw(Uniform(3.0, 3.0), n=100), np.full(100, 3.0))


@pytest.mark.parametrize("mean,std,low,high", [(0.5, 1.0, 0.0, 1.5), (2.0, 0.5, -10.0, 10.0), (-1.0, 3.0, -2.0, 0.0)])
def test_clipped_normal_support_moments_and_clip_mass(mean: float, std: float, low: float, high: float) -> None:
    dist = ClippedNormal(mean, std, low, high)
    x = draw(dist)
    lo, hi = dist.support()
    assert (lo, hi) == (low, high)
    assert x.min() >= low and x.max() <= high
    a, b = (low - mean) / std, (high - mean) / std
    p_low, p_high = stats.norm.cdf(a), stats.norm.sf(b)
    # E[clip(X, low, high)] for X ~ N(mean, std)
    expected = low * p_low + high * p_high + mean * (stats.norm.cdf(b) - p_low) + std * (stats.norm.pdf(a) - stats.norm.pdf(b))
    se = std / math.sqrt(N)  # the clipped variance is at most std^2
    assert abs(x.mean() - expected) < Z * se
    # the clipped tails pile up exactly on the bounds, with the normal's tail mass
    for value, p in ((low, p_low), (high, p_high)):
        freq = np.mean(x == np.float32(value))
        assert abs(freq - p) < Z * math.sqrt(p * (1 - p) / N) + 1e-4


@pytest.mark.parametrize(
    "values,probs", [([-1.0, 0.5, 3.0], [0.2, 0.5, 0.3]), ([4.0, 2.0], [0.9, 0.1]), ([1.0, 2.0, 3.0], [0.0, 0.25, 0.75])]
)
def test_categorical_values_and_frequencies(values: list, probs: list) -> None:
    dist = Categorical(np.array(values), np.array(probs))
    x = draw(dist)
    lo, hi = dist.support()
    assert lo == min(values) and hi == max(values)
    assert set(np.unique(x)) <= {float(np.float32(v)) for v in values}
    for v, p in zip(values, probs):
        freq = np.mean(x == np.float32(v))
        assert abs(freq - p) < Z * math.sqrt(p * (1 - p) / N) + 1e-9, (v, freq, p)
    assert abs(x.mean() - np.dot(values, probs)) < Z * math.sqrt(np.dot(probs, (np.array(values) - np.dot(values, probs)) ** 2) / N) + 1e-9


def test_sample_types_layout_and_independence() -> None:
    supertype = {"x": Uniform(1.0, 1.0), "y": Uniform(-2.0, -2.0), "z": Uniform(0.0, 1.0), "w": Uniform(0.0, 1.0)}
    types = np.asarray(sample_types(fresh_key(), supertype, ("y", "x", "z", "w"), 500))
    assert types.shape == (500, 4) and types.dtype == np.float32
    np.testing.assert_array_equal(types[:, 0], -2.0)  # column i comes from fields[i]
    np.testing.assert_array_equal(types[:, 1], 1.0)
    # two fields with the same distribution get independent draws, and agents differ
    assert not np.allclose(types[:, 2], types[:, 3])
    assert abs(np.corrcoef(types[:, 2], types[:, 3])[0, 1]) < Z / math.sqrt(500)
    assert np.unique(types[:, 2]).size == 500
    # deterministic in the key
    np.testing.assert_array_equal(types, np.asarray(sample_types(fresh_key(), supertype, ("y", "x", "z", "w"), 500)))
    assert sample_types(fresh_key(), supertype, (), 3).shape == (3, 0)


# --- checks -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dist,fragment",
    [
        (Uniform(2.0, 1.0), "myfield: low = 2.0 > high = 1.0"),
        (Uniform(float("nan"), 1.0), "myfield.low"),
        (Uniform(0.0, float("inf")), "myfield.high"),
        (ClippedNormal(0.0, -1.0, -1.0, 1.0), "myfield.std"),
        (ClippedNormal(0.0, 1.0, 1.0, -1.0), "myfield: low"),
        (ClippedNormal(float("nan"), 1.0, -1.0, 1.0), "myfield.mean"),
        (Categorical(np.array([0.0, 1.0]), np.array([0.5, 0.6])), "myfield.probs sum to"),
        (Categorical(np.array([0.0, 1.0]), np.array([1.2, -0.2])), "myfield.probs"),
        (Categorical(np.array([0.0, 1.0, 2.0]), np.array([0.5, 0.5])), "myfield: values shape (3,) and probs shape (2,)"),
        (Categorical(np.array([]), np.array([])), "myfield: values shape"),
        (Categorical(np.array([0.0, np.nan]), np.array([0.5, 0.5])), "myfield.values"),
        # parameters of 2 or more dimensions are refused, naming the field and the expected shapes
        (Uniform(np.zeros((5, 1)), 1.0), "myfield.low has shape (5, 1): expected a scalar, shape ()"),
        (Uniform(0.0, [[0.5, 0.9]]), "myfield.high has shape (1, 2): expected a scalar, shape ()"),
        (ClippedNormal(0.0, np.ones((2, 2)), -1.0, 1.0), "myfield.std has shape (2, 2): expected a scalar"),
        (Uniform(jax.numpy.zeros((2, 2)), 1.0), "myfield.low has shape (2, 2)"),  # JAX arrays too
        (Uniform(jax.numpy.float32(2.0), jax.numpy.float32(1.0)), "myfield: low = "),
    ],
)
def test_distribution_check_raises_naming_field(dist, fragment: str) -> None:
    with pytest.raises(ValueError, match="myfield") as err:
        dist.check("myfield")
    assert fragment in str(err.value)


def test_negative_probability_message_names_the_value() -> None:
    with pytest.raises(ValueError) as err:
        Categorical(np.array([0.0, 1.0]), np.array([1.2, -0.2])).check("f")
    assert "f.probs" in str(err.value) and ("-0.2" in str(err.value) or "1.2" in str(err.value))


@pytest.mark.parametrize(
    "dist", [Uniform(0.0, 1.0), Uniform(0.0, 0.0), ClippedNormal(0.0, 0.0, -1.0, 1.0), Categorical(np.array([3.0]), np.array([1.0]))]
)
def test_valid_distributions_pass_check(dist) -> None:
    dist.check("f")  # must not raise


@pytest.mark.parametrize(
    "dist,fragment",
    [
        # Python lists are the natural way to write values/probs; they must be validated too
        (Categorical([0.0, 1.0], [0.5, 0.6]), "f.probs sum to"),
        (Categorical([0.0, 1.0], [1.5, -0.5]), "f.probs"),
        (Categorical([0.0, 1.0, 2.0], [0.5, 0.5]), "f: values shape"),
    ],
)
def test_categorical_check_with_python_lists(dist, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        dist.check("f")
    assert fragment in str(err.value)


def test_check_supertype_accepts_valid() -> None:
    check_supertype("lp", valid_supertype(), BOUNDS)


def test_check_supertype_missing_and_unknown_fields() -> None:
    missing = valid_supertype()
    del missing["b"]
    with pytest.raises(ValueError, match=r"lp_supertype: missing fields \['b'\]"):
        check_supertype("lp", missing, BOUNDS)
    unknown = {**valid_supertype(), "zzz": Uniform(0.0, 1.0)}
    with pytest.raises(ValueError, match=r"unknown fields \['zzz'\]"):
        check_supertype("lp", unknown, BOUNDS)
    with pytest.raises(ValueError, match="lt_supertype"):
        check_supertype("lt", [("a", Uniform(0.0, 1.0))], BOUNDS)


@pytest.mark.parametrize("bad", [0.5, "uniform", (0.0, 1.0), None])
def test_check_supertype_non_distribution(bad) -> None:
    with pytest.raises(ValueError, match=r"lp_supertype\['b'\].*not a distribution"):
        check_supertype("lp", {**valid_supertype(), "b": bad}, BOUNDS)


@pytest.mark.parametrize(
    "field,dist",
    [
        ("a", Uniform(0.0, 2.0)),
        ("a", Uniform(-0.1, 0.5)),
        ("a", ClippedNormal(0.5, 0.1, 0.0, 1.01)),
        ("a", Categorical(np.array([0.5, 1.5]), np.array([0.5, 0.5]))),
        ("c", Uniform(-1.0, 1.0)),
        ("c", Categorical(np.array([-1.0, 1.0]), np.array([0.5, 0.5]))),
    ],
)
def test_check_supertype_support_outside_bounds(field: str, dist) -> None:
    low, high = BOUNDS[field]
    with pytest.raises(ValueError) as err:
        check_supertype("lt", {**valid_supertype(), field: dist}, BOUNDS)
    message = str(err.value)
    assert f"lt_supertype[{field!r}]" in message
    assert f"[{low}, {high}]" in message


def test_check_supertype_support_outside_bounds_python_lists() -> None:
    with pytest.raises(ValueError, match=r"lt_supertype\['a'\]"):
        check_supertype("lt", {**valid_supertype(), "a": Categorical([0.5, 1.5], [0.5, 0.5])}, BOUNDS)


def test_check_supertype_runs_distribution_check() -> None:
    with pytest.raises(ValueError, match=r"lp_supertype\['b'\].std"):
        check_supertype("lp", {**valid_supertype(), "b": ClippedNormal(0.0, -1.0, -1.0, 1.0)}, BOUNDS)
    with pytest.raises(ValueError, match=r"lp_supertype\['a'\]: low"):
        check_supertype("lp", {**valid_supertype(), "a": Uniform(0.9, 0.1)}, BOUNDS)


# --- no retracing when parameters change ------------------------------------------------------------------------


def test_changing_parameters_does_not_retrace() -> None:
    fields = ("a", "b", "c")

    def sampler(key, supertype):
        return sample_types(key, supertype, fields, 2000)

    jitted = jax.jit(chex.assert_max_traces(sampler, n=1))
    first = {
        "a": Uniform(0.0, 0.5),
        "b": ClippedNormal(0.0, 1.0, -1.0, 1.0),
        "c": Categorical(np.array([1.0, 2.0], np.float32), np.array([0.5, 0.5], np.float32)),
    }
    second = {
        "a": Uniform(0.5, 1.0),
        "b": ClippedNormal(10.0, 1.0, 9.0, 11.0),
        "c": Categorical(np.array([5.0, 6.0], np.float32), np.array([0.1, 0.9], np.float32)),
    }
    x1, x2 = np.asarray(jitted(fresh_key(), first)), np.asarray(jitted(fresh_key(), second))  # a retrace raises here
    assert x1[:, 0].max() <= 0.5 and x2[:, 0].min() >= 0.5
    assert x1[:, 1].max() <= 1.0 and x2[:, 1].min() >= 9.0
    assert set(np.unique(x1[:, 2])) <= {1.0, 2.0} and set(np.unique(x2[:, 2])) <= {5.0, 6.0}
    assert abs(np.mean(x2[:, 2] == 6.0) - 0.9) < 0.05
    # the jitted sampler agrees with the eager one
    np.testing.assert_allclose(x2, np.asarray(sampler(fresh_key(), second)), rtol=1e-6)
    # a third set of values still does not retrace
    jitted(jax.random.key(1), {**first, "a": Uniform(0.25, 0.25)})


# --- per-agent distributions: the family (scalar) path is unchanged ---------------------------------------------


def frozen_uniform(dist: Uniform, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``Uniform.sample`` as it was before per-agent parameters, for bit-identity checks."""
    low, high = jnp.asarray(dist.low, jnp.float32), jnp.asarray(dist.high, jnp.float32)
    return low + (high - low) * jax.random.uniform(key, shape, jnp.float32)


def frozen_clipped_normal(dist: ClippedNormal, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``ClippedNormal.sample`` as it was before per-agent parameters."""
    draw = dist.mean + dist.std * jax.random.normal(key, shape, jnp.float32)
    return jnp.clip(draw, dist.low, dist.high).astype(jnp.float32)


def frozen_categorical(dist: Categorical, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``Categorical.sample`` as it was before per-agent parameters."""
    probs = jnp.asarray(dist.probs, jnp.float32)
    index = jax.random.categorical(key, jnp.log(probs), shape=shape)
    return jnp.asarray(dist.values, jnp.float32)[index]


FROZEN = {Uniform: frozen_uniform, ClippedNormal: frozen_clipped_normal, Categorical: frozen_categorical}


def frozen_sample_types(key: jax.Array, supertype: dict, fields: tuple[str, ...], n: int) -> jax.Array:
    """``sample_types`` as it was before per-agent parameters."""
    keys = jax.random.split(key, len(fields))
    columns = [FROZEN[type(supertype[name])](supertype[name], k, (n,)) for name, k in zip(fields, keys)]
    return jnp.stack(columns, axis=-1)


SCALAR_KINDS = [float, np.float64, np.float32, jnp.float32]  # the ways a user writes a family parameter


@pytest.mark.parametrize("kind", SCALAR_KINDS)
@pytest.mark.parametrize("shape", [(N,), (50, 7)])
def test_family_parameters_draw_bit_identical_to_frozen_formula(kind, shape: tuple[int, ...]) -> None:
    dists = [
        Uniform(kind(-2.5), kind(7.0)),
        ClippedNormal(kind(0.5), kind(1.0), kind(0.0), kind(1.5)),
        ClippedNormal(kind(2.0), kind(0.0), kind(-1.0), kind(1.0)),
        Categorical(np.array([-1.0, 0.5, 3.0]), np.array([0.2, 0.5, 0.3])),
        Categorical([4.0, 2.0], [0.9, 0.1]),
    ]
    for seed, dist in enumerate(dists):
        new = np.asarray(dist.sample(fresh_key(seed), shape))
        old = np.asarray(FROZEN[type(dist)](dist, fresh_key(seed), shape))
        assert new.dtype == old.dtype == np.float32 and new.shape == old.shape == shape
        np.testing.assert_array_equal(new, old)
        lo, hi = dist.support()
        assert np.ndim(lo) == np.ndim(hi) == 0  # a family's support stays scalar


@pytest.mark.parametrize("kind", SCALAR_KINDS)
def test_family_sample_types_bit_identical_to_frozen(kind) -> None:
    supertype = {
        "a": Uniform(kind(0.2), kind(0.8)),
        "b": ClippedNormal(kind(0.0), kind(2.0), kind(-3.0), kind(3.0)),
        "c": Categorical(np.array([0.0, 2.5]), np.array([0.5, 0.5])),
    }
    fields = ("c", "a", "b")
    new = np.asarray(sample_types(fresh_key(), supertype, fields, 257))
    old = np.asarray(frozen_sample_types(fresh_key(), supertype, fields, 257))
    np.testing.assert_array_equal(new, old)
    # compiled, against the compiled frozen copy (XLA may fuse differently from eager execution)
    jitted_new = jax.jit(sample_types, static_argnums=(2, 3))
    jitted_old = jax.jit(frozen_sample_types, static_argnums=(2, 3))
    np.testing.assert_array_equal(
        np.asarray(jitted_new(fresh_key(), supertype, fields, 257)),
        np.asarray(jitted_old(fresh_key(), supertype, fields, 257)),
    )


# --- per-agent distributions: hand-computed cases ----------------------------------------------------------------


def test_per_agent_degenerate_distributions_hand_computed() -> None:
    constants = Uniform(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])).sample(fresh_key(), (3,))
    np.testing.assert_array_equal(np.asarray(constants), [1.0, 2.0, 3.0])
    # std = 0: each agent's draw is its mean clipped to the (shared) interval
    clipped = ClippedNormal(np.array([0.5, 5.0, -5.0]), 0.0, -1.0, 1.0).sample(fresh_key(), (3,))
    np.testing.assert_array_equal(np.asarray(clipped), [0.5, 1.0, -1.0])
    # per-agent one-hot probabilities over shared values pick each agent's value
    shared_values = Categorical(np.array([10.0, 20.0, 30.0]), np.eye(3)[[2, 0, 1]])
    np.testing.assert_array_equal(np.asarray(shared_values.sample(fresh_key(), (3,))), [30.0, 10.0, 20.0])
    # per-agent values with shared probabilities: every agent draws its own second value
    shared_probs = Categorical(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.0, 1.0]))
    np.testing.assert_array_equal(np.asarray(shared_probs.sample(fresh_key(), (2,))), [2.0, 4.0])
    # both per agent
    both = Categorical(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_array_equal(np.asarray(both.sample(fresh_key(), (2,))), [1.0, 4.0])


def test_per_agent_uniform_is_each_agents_affine_map_of_the_same_uniforms() -> None:
    low, high = np.array([0.1, 0.5, -3.0, 2.0]), np.array([0.2, 1.0, 5.0, 2.0])
    dist = Uniform(low, high)
    x = np.asarray(dist.sample(fresh_key(), (4,)))
    u = np.asarray(jax.random.uniform(fresh_key(), (4,), jnp.float32))
    np.testing.assert_allclose(x, low + (high - low) * u, rtol=1e-6)
    np.testing.assert_array_equal(x, np.asarray(frozen_uniform(dist, fresh_key(), (4,))))  # the same formula, broadcast
    assert x[3] == 2.0


def test_sample_types_mixes_family_and_per_agent_columns() -> None:
    supertype = {"x": Uniform(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])), "y": Uniform(-2.0, -2.0),
                 "z": Categorical(np.array([[5.0], [6.0], [7.0]]), np.array([1.0]))}
    types = np.asarray(sample_types(fresh_key(), supertype, ("y", "x", "z"), 3))
    assert types.shape == (3, 3) and types.dtype == np.float32
    np.testing.assert_array_equal(types, [[-2.0, 1.0, 5.0], [-2.0, 2.0, 6.0], [-2.0, 3.0, 7.0]])


def test_per_agent_support() -> None:
    lo, hi = Uniform(0.0, np.array([1.0, 2.0])).support()
    np.testing.assert_array_equal(lo, [0.0, 0.0])
    np.testing.assert_array_equal(hi, [1.0, 2.0])
    lo, hi = ClippedNormal(np.zeros(3), 1.0, -1.0, 1.0).support()  # per agent through its mean
    assert lo.shape == hi.shape == (3,) and (lo == -1.0).all() and (hi == 1.0).all()
    lo, hi = Categorical(np.array([[0.0, 2.0], [-1.0, 5.0]]), np.array([0.5, 0.5])).support()
    np.testing.assert_array_equal(lo, [0.0, -1.0])
    np.testing.assert_array_equal(hi, [2.0, 5.0])
    lo, hi = Categorical(np.array([0.0, 2.0]), np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])).support()
    np.testing.assert_array_equal(lo, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(hi, [2.0, 2.0, 2.0])

    @jax.jit
    def traced_support(low: jax.Array, values: jax.Array) -> tuple[jax.Array, ...]:
        return (*Uniform(low, 1.0).support(), *Categorical(values, jnp.array([0.5, 0.5])).support())

    u_lo, u_hi, c_lo, c_hi = traced_support(jnp.array([0.0, 0.5]), jnp.array([[1.0, 3.0], [2.0, 4.0], [0.0, 9.0]]))
    np.testing.assert_array_equal(np.asarray(u_lo), [0.0, 0.5])
    np.testing.assert_array_equal(np.asarray(u_hi), [1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(c_lo), [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(np.asarray(c_hi), [3.0, 4.0, 9.0])


# --- per-agent distributions: ranges and moments per agent -------------------------------------------------------


def clipped_normal_mean(mean: float, std: float, low: float, high: float) -> float:
    """E[clip(X, low, high)] for X ~ N(mean, std), std > 0."""
    a, b = (low - mean) / std, (high - mean) / std
    p_low, p_high = stats.norm.cdf(a), stats.norm.sf(b)
    inside = mean * (stats.norm.cdf(b) - p_low) + std * (stats.norm.pdf(a) - stats.norm.pdf(b))
    return low * p_low + high * p_high + inside


U_LOW, U_HIGH = np.array([0.1, 0.5, -3.0]), np.array([0.2, 1.0, 5.0])
G_MEAN, G_STD = np.array([0.0, 5.0, -1.0]), np.array([1.0, 0.5, 3.0])
G_LOW, G_HIGH = np.array([-0.5, 0.0, -2.0]), np.array([1.5, 10.0, 0.0])
C_VALUES = np.array([[0.0, 1.0, 2.0], [5.0, 6.0, 7.0], [-1.0, 0.0, 1.0]])
C_PROBS = np.array([[0.2, 0.5, 0.3], [0.9, 0.1, 0.0], [0.0, 0.25, 0.75]])
PER_AGENT = {
    "u": Uniform(U_LOW, U_HIGH),
    "g": ClippedNormal(G_MEAN, G_STD, G_LOW, G_HIGH),
    "c": Categorical(C_VALUES, C_PROBS),
}


def per_agent_draws(supertype: dict, fields: tuple[str, ...], n_agents: int) -> np.ndarray:
    """``N`` independent ``sample_types`` draws: float64 ``(N, n_agents, len(fields))``."""
    keys = jax.random.split(fresh_key(), N)
    types = jax.vmap(lambda k: sample_types(k, supertype, fields, n_agents))(keys)
    out = np.asarray(types)
    assert out.shape == (N, n_agents, len(fields)) and out.dtype == np.float32
    return out.astype(np.float64)


def test_per_agent_draws_follow_each_agents_distribution() -> None:
    check_supertype("lp", PER_AGENT, {"u": (-5.0, 5.0), "g": (-2.0, 10.0), "c": (-1.0, 7.0)}, n_agents=3)
    types = per_agent_draws(PER_AGENT, ("u", "g", "c"), 3)
    for agent in range(3):
        # uniform: own interval, mean and spread
        x = types[:, agent, 0]
        low, high = U_LOW[agent], U_HIGH[agent]
        assert x.min() >= np.float32(low) and x.max() <= np.float32(high), agent
        sd = (high - low) / math.sqrt(12.0)
        assert abs(x.mean() - 0.5 * (low + high)) < Z * sd / math.sqrt(N), agent
        assert abs(x.std() - sd) < 0.02 * sd, agent
        assert x.min() < low + 0.01 * (high - low) and x.max() > high - 0.01 * (high - low), agent
        # clipped normal: own interval, mean and clip masses
        x = types[:, agent, 1]
        mean, std, low, high = G_MEAN[agent], G_STD[agent], G_LOW[agent], G_HIGH[agent]
        assert x.min() >= low and x.max() <= high, agent
        assert abs(x.mean() - clipped_normal_mean(mean, std, low, high)) < Z * std / math.sqrt(N), agent
        for value, p in ((low, stats.norm.cdf((low - mean) / std)), (high, stats.norm.sf((high - mean) / std))):
            assert abs(np.mean(x == np.float32(value)) - p) < Z * math.sqrt(p * (1 - p) / N) + 1e-4, (agent, value)
        # categorical: own values with own frequencies
        x = types[:, agent, 2]
        assert set(np.unique(x)) <= {float(np.float32(v)) for v, p in zip(C_VALUES[agent], C_PROBS[agent]) if p > 0}
        for v, p in zip(C_VALUES[agent], C_PROBS[agent]):
            freq = np.mean(x == np.float32(v))
            assert abs(freq - p) < Z * math.sqrt(p * (1 - p) / N) + 1e-9, (agent, v, freq, p)


def test_per_agent_sample_broadcasts_over_leading_axes_and_mixed_parameters() -> None:
    # a scalar parameter beside vectors is shared by every agent; the agent axis is the last axis of shape
    dist = ClippedNormal(np.array([-10.0, 0.0, 10.0]), 1.0, -20.0, np.array([20.0, 0.5, 20.0]))
    x = np.asarray(dist.sample(fresh_key(), (N, 3))).astype(np.float64)
    assert x.shape == (N, 3)
    for agent, mean, high in zip(range(3), (-10.0, 0.0, 10.0), (20.0, 0.5, 20.0)):
        assert x[:, agent].max() <= high
        assert abs(x[:, agent].mean() - clipped_normal_mean(mean, 1.0, -20.0, high)) < Z / math.sqrt(N), agent
    assert abs(np.corrcoef(x[:, 0], x[:, 2])[0, 1]) < Z / math.sqrt(N)  # agents draw independently


def test_per_agent_categorical_broadcast_forms_frequencies() -> None:
    probs = np.array([[0.1, 0.9], [0.6, 0.4]])
    shared_values = Categorical(np.array([-1.0, 1.0]), probs)
    shared_probs = Categorical(np.array([[0.0, 1.0], [10.0, 20.0]]), np.array([0.3, 0.7]))
    cases = [
        (shared_values, np.array([[-1.0, 1.0]] * 2), probs),  # (distribution, each agent's values, each agent's probs)
        (shared_probs, np.array([[0.0, 1.0], [10.0, 20.0]]), np.array([[0.3, 0.7]] * 2)),
    ]
    for seed, (dist, per_agent_values, per_agent_probs) in enumerate(cases):
        dist.check("f", 2)
        x = np.asarray(dist.sample(fresh_key(seed), (N, 2)))
        for agent in range(2):
            assert set(np.unique(x[:, agent])) <= set(per_agent_values[agent])
            for v, p in zip(per_agent_values[agent], per_agent_probs[agent]):
                assert abs(np.mean(x[:, agent] == v) - p) < Z * math.sqrt(p * (1 - p) / N), (seed, agent, v)


@settings(max_examples=40, deadline=None)
@given(
    bounds=st.lists(
        st.tuples(st.floats(-1e6, 1e6, width=32), st.floats(-1e6, 1e6, width=32)), min_size=1, max_size=8
    ),
    seed=st.integers(0, 2**32 - 1),
)
@example(bounds=[(8.281673924159669e-42, 8.281673924159669e-42)], seed=0)  # subnormal: XLA reads it as 0
def test_hypothesis_per_agent_uniform_draws_lie_in_own_interval(bounds: list, seed: int) -> None:
    low = np.array([min(pair) for pair in bounds], np.float32)
    high = np.array([max(pair) for pair in bounds], np.float32)
    n = len(bounds)
    dist = Uniform(low, high)
    magnitudes = np.abs(np.concatenate([low, high]))
    if ((magnitudes > 0) & (magnitudes < np.finfo(np.float32).tiny)).any():
        with pytest.raises(ValueError, match="subnormal in float32"):
            dist.check("f", n)
        return
    dist.check("f", n)
    check_supertype("lp", {"f": dist}, {"f": (-math.inf, math.inf)}, n_agents=n)
    x = np.asarray(dist.sample(jax.random.key(seed), (64, n)))
    assert ((x >= low) & (x <= high)).all()
    types = np.asarray(sample_types(jax.random.key(seed), {"f": dist}, ("f",), n))[:, 0]
    assert ((types >= low) & (types <= high)).all()
    constant = low == high
    np.testing.assert_array_equal(types[constant], low[constant])


# --- per-agent distributions: vmap over environments ------------------------------------------------------------


def test_sample_types_vmaps_over_a_batch_of_parameter_sets() -> None:
    n_agents, fields = 3, ("u", "s", "c")
    batched = {
        # env 0: agent j in [10 j, 10 j + 1]; env 1: the same, shifted by 100
        "u": Uniform(
            np.array([[0.0, 10.0, 20.0], [100.0, 110.0, 120.0]]), np.array([[1.0, 11.0, 21.0], [101.0, 111.0, 121.0]])
        ),
        "s": Uniform(np.array([-5.0, 5.0]), np.array([-4.0, 6.0])),  # a family per env
        "c": Categorical(  # one-hot rows: env 0 agents draw 1, 2, 1; env 1 agents draw 4, 3, 4
            np.array([[[1.0, 2.0]] * 3, [[3.0, 4.0]] * 3]), np.array([np.eye(2)[[0, 1, 0]], np.eye(2)[[1, 0, 1]]])
        ),
    }
    sampler = jax.jit(jax.vmap(lambda k, s: sample_types(k, s, fields, n_agents)))
    types = np.asarray(sampler(jax.random.split(fresh_key(), 2), batched))
    assert types.shape == (2, n_agents, len(fields)) and types.dtype == np.float32
    for env in range(2):
        for agent in range(n_agents):
            assert 100 * env + 10 * agent <= types[env, agent, 0] <= 100 * env + 10 * agent + 1, (env, agent)
        assert (types[env, :, 1] >= [-5.0, 5.0][env]).all() and (types[env, :, 1] <= [-4.0, 6.0][env]).all()
    np.testing.assert_array_equal(types[:, :, 2], [[1.0, 2.0, 1.0], [4.0, 3.0, 4.0]])
    # each env draws what an unbatched call with its own parameters and key draws
    env_keys = jax.random.split(fresh_key(), 2)
    for env, key in enumerate(env_keys):
        params = jax.tree_util.tree_map(lambda leaf, e=env: leaf[e], batched)
        np.testing.assert_allclose(types[env], np.asarray(sample_types(key, params, fields, n_agents)), rtol=1e-6)


# --- per-agent distributions: checks ----------------------------------------------------------------------------

OMEGA = {"omega": (0.0, 1.0)}
OMEGA_FIELD = "lp_supertype['omega']"


@pytest.mark.parametrize(
    "dist,n_agents",
    [
        (Uniform(np.array([0.1, 0.5, 0.5]), np.array([0.2, 1.0, 1.0])), 3),
        (Uniform(np.array([0.1, 0.5, 0.5]), np.array([0.2, 1.0, 1.0])), None),
        (Uniform(0.0, [0.5, 0.9]), None),  # Python lists too
        (Uniform(jnp.array([0.0, 0.4]), jnp.array([0.5, 1.0])), 2),  # JAX arrays too
        (Uniform(0.0, 1.0), 3),  # a family fits any number of agents
        (ClippedNormal(np.array([0.2, 0.8]), 0.1, 0.0, np.array([0.5, 1.0])), 2),
        (ClippedNormal(np.full(4, 0.5), np.zeros(4), np.zeros(4), np.ones(4)), 4),
        (Categorical(np.array([[0.0, 1.0], [0.25, 0.5]]), np.array([[0.5, 0.5], [1.0, 0.0]])), 2),
        (Categorical(np.array([0.0, 1.0]), np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])), 3),
        (Categorical([[0.0, 1.0], [0.25, 0.5]], [0.5, 0.5]), None),
    ],
)
def test_valid_per_agent_supertypes_pass(dist, n_agents: int | None) -> None:
    check_supertype("lp", {"omega": dist}, OMEGA, n_agents=n_agents)


@pytest.mark.parametrize(
    "dist,n_agents,message",
    [
        # the number of agents
        (Uniform(np.array([0.1, 0.2]), 0.5), 3,
         f"{OMEGA_FIELD}.low has 2 entries: need one per agent, n_agents = 3 (or a scalar for the whole family)"),
        (ClippedNormal(0.5, 0.1, 0.0, np.ones(4)), 3,
         f"{OMEGA_FIELD}.high has 4 entries: need one per agent, n_agents = 3 (or a scalar for the whole family)"),
        (Uniform(np.zeros(2), np.ones(3)), None,
         (f"{OMEGA_FIELD}.high has 3 entries but {OMEGA_FIELD}.low has 2: the per-agent parameters of a "
          "distribution need the same number of entries, one per agent (or a scalar for the whole family)")),
        (ClippedNormal(np.full(3, 0.5), 0.1, np.zeros(2), 1.0), None,
         f"{OMEGA_FIELD}.low has 2 entries but {OMEGA_FIELD}.mean has 3"),
        (Uniform(np.array([]), 1.0), None,
         "lp_supertype['omega'].low has 0 entries: need one per agent, at least 1 (or a scalar for the whole family)"),
        (Categorical(np.array([0.0, 1.0]), np.array([[0.5, 0.5], [0.5, 0.5]])), 3,
         f"{OMEGA_FIELD}.probs has 2 rows: need one per agent, n_agents = 3 (or shape (m,) for the whole family)"),
        (Categorical(np.array([[0.0, 1.0]] * 4), np.array([0.5, 0.5])), 3, "lp_supertype['omega'].values has 4 rows"),
        # shapes
        (Uniform(np.zeros((3, 1)), 1.0), None,
         (f"{OMEGA_FIELD}.low has shape (3, 1): expected a scalar, shape (), "
          "for the whole family, or a vector, shape (n_agents,), one value per agent")),
        (ClippedNormal(0.5, np.full((2, 3), 0.1), 0.0, 1.0), 2, "lp_supertype['omega'].std has shape (2, 3)"),
        (Categorical(np.array([[0.0, 1.0]] * 2), np.array([[0.5, 0.5]] * 3)), None,
         (f"{OMEGA_FIELD}: values shape (2, 2) and probs shape (3, 2) must each be (m,) for the whole family or "
          "(n_agents, m), one row per agent, with the same m >= 1 (and the same n_agents where both have rows)")),
        (Categorical(np.zeros((2, 3)), np.full((2, 2), 0.5)), None, "values shape (2, 3) and probs shape (2, 2)"),
        (Categorical(np.zeros(2), np.full((1, 2, 2), 0.5)), None, "values shape (2,) and probs shape (1, 2, 2)"),
        (Categorical(np.zeros((0, 2)), np.full(2, 0.5)), None, "values shape (0, 2) and probs shape (2,)"),
        # values, per agent
        (Uniform(np.array([0.1, 0.9, 0.5]), np.array([0.2, 0.2, 1.0])), 3,
         "lp_supertype['omega'][agent 1]: low = 0.9 > high = 0.2: need low <= high"),
        (Uniform(np.array([0.1, 0.9], np.float32), np.array([0.2, 0.2], np.float32)), None,
         "lp_supertype['omega'][agent 1]: low = 0.9 > high = 0.2: need low <= high"),  # float32 shown as written
        (ClippedNormal(0.5, 0.1, np.array([0.0, 0.0, 0.7]), 0.6), None,
         "lp_supertype['omega'][agent 2]: low = 0.7 > high = 0.6: need low <= high"),
        (Uniform(np.array([0.1, 0.5, -0.5]), np.array([0.2, 1.0, 1.0])), 3,
         "lp_supertype['omega'][agent 2] has support [-0.5, 1.0], outside the valid range [0.0, 1.0]"),
        (ClippedNormal(0.5, 0.1, 0.0, np.array([1.0, 1.5])), 2,
         "lp_supertype['omega'][agent 1] has support [0.0, 1.5], outside the valid range [0.0, 1.0]"),
        (Uniform(0.0, np.array([1.0, np.inf])), None,
         "lp_supertype['omega'][agent 1].high = inf is out of range: valid range is [-inf, inf]"),
        (ClippedNormal(0.5, np.array([0.1, -1.0]), 0.0, 1.0), 2,
         "lp_supertype['omega'][agent 1].std = -1.0 is out of range: valid range is [0.0, inf]"),
        (ClippedNormal(np.array([0.5, 0.5, np.nan]), 0.1, 0.0, 1.0), 3,
         "lp_supertype['omega'][agent 2].mean = nan is out of range: valid range is [-inf, inf]"),
        (ClippedNormal(np.array([0.5, 0.5]), -0.1, 0.0, 1.0), 2,  # a shared bad value names no agent
         "lp_supertype['omega'].std = -0.1 is out of range: valid range is [0.0, inf]"),
        (Categorical(np.array([0.0, 1.0]), np.array([[0.5, 0.5], [0.5, 0.6]])), 2,
         "lp_supertype['omega'][agent 1].probs sum to 1.1: they must sum to 1 (within 1e-05)"),
        (Categorical(np.array([0.0, 1.0]), np.array([[1.2, -0.2], [0.5, 0.5]])), 2,
         "lp_supertype['omega'][agent 0].probs = 1.2 is out of range: valid range is [0.0, 1.0]"),
        (Categorical(np.array([[0.0, 1.0], [0.0, np.nan]]), np.array([0.5, 0.5])), 2,
         "lp_supertype['omega'][agent 1].values = nan is out of range: valid range is [-inf, inf]"),
        (Categorical(np.array([[0.0, 1.0], [0.5, 1.5]]), np.array([0.5, 0.5])), 2,
         "lp_supertype['omega'][agent 1] has support [0.5, 1.5], outside the valid range [0.0, 1.0]"),
    ],
)
def test_per_agent_check_messages(dist, n_agents: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_supertype("lp", {"omega": dist}, OMEGA, n_agents=n_agents)


@pytest.mark.parametrize(
    "n_agents,fragment", [(0, "n_agents = 0 is out of range"), (2.5, "n_agents = 2.5 is not an integer")]
)
def test_check_supertype_refuses_bad_n_agents(n_agents, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        check_supertype("lp", valid_supertype(), BOUNDS, n_agents=n_agents)


def test_check_supertype_family_fits_any_n_agents() -> None:
    for n_agents in (1, 3, 1000):
        check_supertype("lp", valid_supertype(), BOUNDS, n_agents=n_agents)


def test_traced_per_agent_parameters_are_skipped() -> None:
    @jax.jit
    def checked(low: jax.Array, high: jax.Array, probs: jax.Array) -> jax.Array:
        # invalid values (low > high, outside the bounds, probs not summing to 1), but traced: not checked
        check_supertype("lp", {"omega": Uniform(low, high)}, OMEGA, n_agents=3)
        Categorical(jnp.array([0.0, 1.0]), probs).check("f", 3)
        return low

    checked(jnp.array([0.9, -5.0, 2.0]), jnp.array([0.1, 0.2, 0.3]), jnp.full((3, 2), 0.9))


@pytest.mark.parametrize(
    "dist,message",
    [
        (Uniform(np.zeros(3), 1.0),
         "supertype['a'].low has 3 entries: need one per agent, n_agents = 4 (or a scalar for the whole family)"),
        (Categorical(np.array([0.0, 1.0]), np.full((2, 2), 0.5)),
         "supertype['a'].probs has 2 rows: need one per agent, n_agents = 4"),
        (ClippedNormal(0.0, 1.0, np.zeros((4, 1)), 1.0), "supertype['a'].low has shape (4, 1): expected a scalar"),
    ],
)
def test_sample_types_refuses_per_agent_length_other_than_n(dist, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sample_types(fresh_key(), {"a": dist}, ("a",), 4)
    with pytest.raises(ValueError, match=re.escape(message)):  # at trace time under jit too
        jax.jit(lambda key, s: sample_types(key, s, ("a",), 4))(fresh_key(), {"a": dist})


def test_per_agent_parameters_do_not_retrace_when_values_change() -> None:
    fields = ("a", "c")
    jitted = jax.jit(chex.assert_max_traces(lambda key, s: sample_types(key, s, fields, 2), n=1))
    first = {"a": Uniform(np.array([0.0, 0.5], np.float32), np.array([0.1, 0.6], np.float32)),
             "c": Categorical(np.array([1.0, 2.0], np.float32), np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))}
    second = {"a": Uniform(np.array([0.8, 0.2], np.float32), np.array([0.9, 0.3], np.float32)),
              "c": Categorical(np.array([5.0, 6.0], np.float32), np.array([[0.0, 1.0], [1.0, 0.0]], np.float32))}
    x1, x2 = np.asarray(jitted(fresh_key(), first)), np.asarray(jitted(fresh_key(), second))
    assert 0.0 <= x1[0, 0] <= 0.1 and 0.5 <= x1[1, 0] <= 0.6 and 0.8 <= x2[0, 0] <= 0.9 and 0.2 <= x2[1, 0] <= 0.3
    np.testing.assert_array_equal(x1[:, 1], [1.0, 2.0])
    np.testing.assert_array_equal(x2[:, 1], [6.0, 5.0])
