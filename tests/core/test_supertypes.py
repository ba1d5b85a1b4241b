"""Supertypes: per-field distributions over agent types (jaxmarket.core.supertypes)."""

from __future__ import annotations

import math

import chex
import jax
import numpy as np
import pytest
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
        # one value per agent is refused, naming the field and the expected shape
        (Uniform(np.linspace(0.0, 0.4, 5), np.linspace(0.5, 0.9, 5)), "myfield.low has shape (5,): expected a scalar, shape ()"),
        (Uniform(0.0, [0.5, 0.9]), "myfield.high has shape (2,): expected a scalar, shape ()"),
        (ClippedNormal(np.zeros(3), 1.0, -1.0, 1.0), "myfield.mean has shape (3,): expected a scalar"),
        (ClippedNormal(0.0, np.ones((2, 2)), -1.0, 1.0), "myfield.std has shape (2, 2): expected a scalar"),
        (Uniform(jax.numpy.array([0.0, 0.4]), jax.numpy.array([0.5, 1.0])), "myfield.low has shape (2,)"),  # JAX arrays too
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
