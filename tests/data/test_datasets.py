"""Minari datasets of recorded episodes: bitwise round trips (single-agent Box and Discrete actions,
agent types, a multi-agent env per family), Minari's own reader, streaming in chunks, and the
errors for damaged files and bad input (nothing written then)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import minari
import numpy as np
import pytest

import jaxmarket as jm
from jaxmarket.data import dataset_info, from_minari, iterate_minari, to_minari
from jaxmarket.data.datasets import DATASETS_PATH_VARIABLE, EPISODE_FILE, METADATA_FILE, check_new_dataset_id
from jaxmarket.otc.market import LP_TYPE_FIELDS

EPISODES = 5
MM_STEPS = 20
SMALL = {  # small markets (tests/interop/test_gymnasium_env.py's settings), compiled in seconds
    "jaxmarket/MarketMaking-AS-v0": {"max_steps_in_episode": MM_STEPS},
    "jaxmarket/Execution-v0": {"n_noise": 20, "n_value": 5, "n_momentum": 2, "n_market_makers": 1},
    "jaxmarket/OTC-LP-v0": {"n_rounds": 6},
    "jaxmarket/OTC-v0": {"n_lps": 2, "n_lts": 3, "n_flow": 4, "n_rounds": 4},
}
REF_MIN, REF_MAX = -3.0, 5.0


@pytest.fixture(autouse=True)
def datasets_root(tmp_path, monkeypatch) -> Path:
    """Every dataset of a test goes under its own tmp_path (Minari's variable points there)."""
    monkeypatch.setenv(DATASETS_PATH_VARIABLE, str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def recordings() -> dict:
    """One random-policy recording of each env, made on first use (compiled about twice as fast with
    XLA's optimisations off: the tests compare what was recorded with what is read back)."""
    cache: dict = {}

    def get(env_id: str, seed: int = 0):
        if env_id not in cache:
            env, params = jm.make(env_id, **SMALL[env_id])
            before = jax.config.values["jax_disable_most_optimizations"]
            jax.config.update("jax_disable_most_optimizations", True)
            try:
                cache[env_id] = env, params, jm.record(env, params, jm.random_policy(env), EPISODES, seed=seed)
            finally:
                jax.config.update("jax_disable_most_optimizations", before)
        return cache[env_id]

    return get


def bits(a: np.ndarray) -> np.ndarray:
    """The array's raw bits (NaN payloads and signed zeros compared exactly)."""
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def assert_identical(got, expected) -> None:
    """Same tree, and every leaf the same dtype, shape and bits."""
    got_leaves, got_tree = jax.tree_util.tree_flatten_with_path(got)
    expected_leaves, expected_tree = jax.tree_util.tree_flatten_with_path(expected)
    assert got_tree == expected_tree
    for (path, g), (_, e) in zip(got_leaves, expected_leaves, strict=True):
        g, e = np.asarray(g), np.asarray(e)
        name = jax.tree_util.keystr(path)
        assert g.dtype == e.dtype and g.shape == e.shape, (name, g.dtype, e.dtype, g.shape, e.shape)
        np.testing.assert_array_equal(bits(g), bits(e), err_msg=name)


def family_only(t, family: str):
    """The recording as a dataset of one family stores it."""
    pick = lambda d: None if d is None else {family: d[family]}  # noqa: E731
    return t.replace(observations=pick(t.observations), actions=pick(t.actions), rewards=pick(t.rewards),
                     terminations=pick(t.terminations), truncations=pick(t.truncations), acting=pick(t.acting),
                     types=pick(t.types))


@pytest.mark.parametrize("env_id", ["jaxmarket/OTC-LP-v0", "jaxmarket/MarketMaking-AS-v0", "jaxmarket/Execution-v0"])
def test_single_agent_round_trip_is_bitwise(recordings, env_id):
    """Every array read back is the recorded one, dtype and bits: float32 observations (with NaN,
    -0.0 and inf planted), float32 Box or int32 Discrete actions, bools, int32 lengths, types and
    metrics."""
    env, params, t = recordings(env_id)
    obs = np.array(t.observations)
    obs[0, 0, 0], obs[1, 2, 0], obs[2, 1, 0] = np.nan, -0.0, np.inf
    t = t.replace(observations=obs)
    dataset = to_minari(t, "tests/single-v0", env, params, algorithm_name="random", seed=0)
    assert isinstance(dataset, minari.MinariDataset)
    back = from_minari("tests/single-v0")
    assert_identical(back, t)
    assert np.signbit(back.observations[1, 2, 0]) and np.isnan(back.observations[0, 0, 0])
    if env_id == "jaxmarket/Execution-v0":
        assert back.actions.dtype == np.int32 and back.actions.shape == (EPISODES, t.num_steps)
    if env_id == "jaxmarket/OTC-LP-v0":
        assert back.types.shape == (EPISODES, len(LP_TYPE_FIELDS))


def test_minari_reads_a_single_agent_dataset(recordings):
    """``minari.load_dataset`` reads each episode as written, the type per step in its infos, and the
    metadata (the dataset id, gymnasium's spec with the env's overrides, the policy, the reference
    scores) is Minari's."""
    env, params, t = recordings("jaxmarket/OTC-LP-v0")
    to_minari(t, "tests/otc-lp/random-v0", env, params, env_kwargs=SMALL["jaxmarket/OTC-LP-v0"],
              algorithm_name="random", seed=7, ref_min_score=REF_MIN, ref_max_score=REF_MAX, author="tests")
    dataset = minari.load_dataset("tests/otc-lp/random-v0")
    assert dataset.total_episodes == EPISODES and dataset.total_steps == int(t.lengths.sum())
    assert dataset.spec.dataset_id == "tests/otc-lp/random-v0" and dataset.env_spec.id == "jaxmarket/OTC-LP-v0"
    assert dataset.observation_space.shape == env.observation_space(params).shape
    metadata = dataset.storage.metadata
    assert metadata["algorithm_name"] == "random" and metadata["author"] == {"tests"}
    assert metadata["jaxmarket"]["seed"] == 7
    assert dataset.recover_environment().unwrapped.params.n_rounds == SMALL["jaxmarket/OTC-LP-v0"]["n_rounds"]
    for e, episode in enumerate(dataset.iterate_episodes()):
        np.testing.assert_array_equal(episode.observations, t.observations[e])
        np.testing.assert_array_equal(episode.actions, t.actions[e])
        np.testing.assert_array_equal(episode.rewards, t.rewards[e])
        np.testing.assert_array_equal(episode.terminations, t.terminations[e])
        np.testing.assert_array_equal(episode.truncations, t.truncations[e])
        np.testing.assert_array_equal(episode.infos["type"], np.broadcast_to(t.types[e], (t.num_steps + 1, 5)))
    returns = t.rewards.sum(axis=1)
    np.testing.assert_allclose(minari.get_normalized_score(dataset, returns),
                               (returns - REF_MIN) / (REF_MAX - REF_MIN), rtol=1e-6)


@pytest.mark.parametrize("family", ["lp", "lt"])
def test_multi_agent_family_round_trip(recordings, family):
    """OTC-v0 per family: each (episode, agent) is one Minari episode ``e * n + i`` whose infos hold the
    agent index, the acting mask and the type; read back, the family's arrays (Box dealer quotes,
    Discrete client choices) and the transitions are the recorded ones."""
    env, params, t = recordings("jaxmarket/OTC-v0")
    n = env.num_agents[family]
    to_minari(t, f"tests/otc-{family}-v0", env, params, family=family, algorithm_name="random", seed=0)
    back = from_minari(f"tests/otc-{family}-v0")
    assert_identical(back, family_only(t, family))
    assert_identical(jm.to_transitions(back, family), jm.to_transitions(t, family))
    dataset = minari.load_dataset(f"tests/otc-{family}-v0")
    assert dataset.total_episodes == EPISODES * n and dataset.env_spec is None
    assert "jaxmarket/OTC-v0" in dataset.storage.metadata["description"]
    assert dataset.storage.metadata["jaxmarket"]["type_fields"] == list(env.type_fields[family])
    for m, episode in enumerate(dataset.iterate_episodes()):
        e, agent = divmod(m, n)
        np.testing.assert_array_equal(episode.observations, t.observations[family][e, :, agent])
        np.testing.assert_array_equal(episode.actions, t.actions[family][e, :, agent])
        np.testing.assert_array_equal(episode.rewards, t.rewards[family][e, :, agent])
        np.testing.assert_array_equal(episode.infos["agent"][:, 0], agent)
        np.testing.assert_array_equal(episode.infos["acting"][:-1, 0], t.acting[family][e, :, agent])
        np.testing.assert_array_equal(episode.infos["type"][0], t.types[family][e, agent])


def test_episodes_are_cut_at_their_lengths(recordings):
    """No padding is written: each Minari episode has ``lengths[e]`` steps; read back, the episodes are
    padded to the longest one read (final observation repeated, zeros, False) and equal on their
    valid steps."""
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    lengths = np.array([MM_STEPS, 7, 1, MM_STEPS - 1, 12], np.int32)
    t = t.replace(lengths=lengths)
    to_minari(t, "tests/cut-v0", env, params, algorithm_name="random", seed=0)
    assert [len(ep) for ep in minari.load_dataset("tests/cut-v0").iterate_episodes()] == lengths.tolist()
    back = from_minari("tests/cut-v0", episodes=[1, 2])
    assert back.num_steps == 7 and back.lengths.tolist() == [7, 1]
    for row, e in enumerate((1, 2)):
        n = lengths[e]
        np.testing.assert_array_equal(back.observations[row, : n + 1], t.observations[e, : n + 1])
        np.testing.assert_array_equal(back.observations[row, n + 1:], np.broadcast_to(t.observations[e, n], (7 - n, 2)))
        np.testing.assert_array_equal(back.actions[row, :n], t.actions[e, :n])
        np.testing.assert_array_equal(back.rewards[row, :n], t.rewards[e, :n])
        assert not back.actions[row, n:].any() and not back.rewards[row, n:].any()
        assert not back.terminations[row, n:].any() and not back.truncations[row, n:].any()
    np.testing.assert_array_equal(back.metrics["pnl"], t.metrics["pnl"][[1, 2]])


def test_chunks_in_and_out(recordings):
    """An iterable of recordings (numpy, then device arrays) is written as one dataset (episode
    indices continuing), in small write chunks; ``iterate_minari`` streams it back in chunks that
    join into ``from_minari``'s."""
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    parts = [jax.tree.map(lambda a: a[:2], t), jax.tree.map(lambda a: jnp.asarray(a[2:]), t)]
    to_minari(iter(parts), "tests/chunks-v0", env, params, algorithm_name="random", seed=0, episodes_per_chunk=2)
    chunks = list(iterate_minari("tests/chunks-v0", 2))
    assert [c.num_episodes for c in chunks] == [2, 2, 1]
    assert_identical(jax.tree.map(lambda *a: np.concatenate(a), *chunks), t)
    assert_identical(from_minari("tests/chunks-v0"), t)
    info = dataset_info("tests/chunks-v0")
    assert (info["episodes"], info["minari_episodes"], info["steps"]) == (EPISODES, EPISODES, EPISODES * MM_STEPS)
    assert info["env_id"] == "jaxmarket/MarketMaking-AS-v0" and info["algorithm_name"] == "random"
    assert info["family"] is None and info["ref_min_score"] is None and "Box" in info["action_space"]
    assert info["metrics"] == sorted(t.metrics)
    json.dumps(info)


def damage(data_dir: Path, m: int, how: str) -> Path:
    file = data_dir / str(m) / EPISODE_FILE
    raw = bytearray(file.read_bytes())
    if how == "truncate":
        file.write_bytes(raw[: len(raw) // 2])
    elif how == "flip":
        raw[len(raw) // 2] ^= 0xFF
        file.write_bytes(raw)
    elif how == "metadata":
        (file.parent / METADATA_FILE).write_text('{"id": 3, "total_st')
        return file.parent / METADATA_FILE
    elif how == "delete":
        file.unlink()
    return file


@pytest.mark.parametrize("how, message", [("truncate", "truncated"), ("flip", "SHA-256"),
                                          ("metadata", "not readable JSON"), ("delete", "missing")])
def test_a_damaged_file_is_named_and_no_chunk_is_partial(recordings, datasets_root, how, message):
    """A truncated, corrupted or missing file raises a ``ValueError`` naming it and what is wrong;
    streaming, the chunks before it come whole and the chunk holding it is never yielded."""
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    to_minari(t, "tests/damaged-v0", env, params, algorithm_name="random", seed=0)
    file = damage(datasets_root / "tests" / "damaged-v0" / "data", 3, how)
    with pytest.raises(ValueError, match=message) as error:
        from_minari("tests/damaged-v0")
    assert str(file) in str(error.value)
    stream = iterate_minari("tests/damaged-v0", 2)
    assert_identical(next(stream), jax.tree.map(lambda a: a[:2], t))
    with pytest.raises(ValueError, match=message):
        next(stream)
    assert_identical(from_minari("tests/damaged-v0", episodes=[4, 0]), jax.tree.map(lambda a: a[[4, 0]], t))


def test_bad_input_is_refused_before_anything_is_written(recordings, datasets_root):
    """Empty recordings, spaces that do not match the env, wrong families, lengths or scores, bad or
    taken ids: a ``ValueError`` naming the field and the expected value, and no file left behind;
    a later chunk that does not match the first removes what was written."""
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    otc, otc_params, multi = recordings("jaxmarket/OTC-v0")
    write = lambda traj, **kw: to_minari(traj, "tests/bad-v0", env, params, algorithm_name="x", seed=0, **kw)  # noqa: E731
    cases = [
        (lambda: write(jax.tree.map(lambda a: a[:0], t)), "0 episodes"),
        (lambda: write([]), "empty iterable"),
        (lambda: write(t.replace(observations=t.observations.astype(np.float64))),
         r"trajectories.observations: dtype float64, expected float32"),
        (lambda: write(t.replace(actions=t.actions[..., :1])),
         r"trajectories.actions: shape \(5, 20, 1\), expected \(5, 20, 2\)"),
        (lambda: write(t.replace(lengths=t.lengths + 1)), r"trajectories.lengths: .*expected in \[1, 20\]"),
        (lambda: write(t, family="lp"), "single-agent env has no families"),
        (lambda: write(t, ref_max_score=float("nan")), "ref_max_score"),
        (lambda: write(t, env_kwargs={"sigma": np.float32(2.0)}), "env_kwargs"),
        (lambda: write(t.replace(types=np.zeros((EPISODES, 1), np.float32))), "env has no agent types"),
        (lambda: to_minari(multi, "tests/bad-v0", otc, otc_params, algorithm_name="x", seed=0),
         r"one of \['lp', 'lt'\]"),
        (lambda: to_minari(multi, "tests/bad-v0", otc, otc_params, family="lt", algorithm_name="x", seed=0,
                           episodes_per_chunk=0), "episodes_per_chunk"),
        (lambda: to_minari(multi.replace(actions={**multi.actions, "lt": multi.actions["lt"].astype(np.float32)}),
                           "tests/bad-v0", otc, otc_params, family="lt", algorithm_name="x", seed=0),
         r"trajectories.actions\['lt'\]: dtype float32, expected an integer dtype"),
        (lambda: to_minari(t, "not an id", env, params, algorithm_name="x", seed=0), "not a Minari id"),
        (lambda: write(iter([t, t.replace(metrics={})])), "chunk 1"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
        assert list(datasets_root.iterdir()) == [], message
    to_minari(t, "tests/taken-v0", env, params, algorithm_name="x", seed=0)
    with pytest.raises(ValueError, match="already exists"):
        to_minari(t, "tests/taken-v0", env, params, algorithm_name="x", seed=0)


def test_an_unknown_id_names_where_it_looked(recordings, datasets_root, tmp_path_factory):
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    to_minari(t, "tests/present-v0", env, params, algorithm_name="x", seed=0)
    with pytest.raises(ValueError, match=r"no Minari dataset at .*absent-v0.*\['tests/present-v0'\]") as error:
        from_minari("tests/absent-v0")
    assert str(datasets_root) in str(error.value)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    with pytest.raises(ValueError, match="data_path argument.*no dataset"):
        dataset_info("tests/present-v0", data_path=elsewhere)
    shutil.copytree(datasets_root / "tests", elsewhere / "tests")
    assert dataset_info("tests/present-v0", data_path=elsewhere)["episodes"] == EPISODES


def test_recording_seeds_and_the_fingerprint(recordings, datasets_root):
    """``recording_seeds`` is stored where given (None where not: unknown); the fingerprint is the same
    for the same episodes under another id, changes with any episode's content, and is read from the
    episodes' metadata (a replaced episode changes it)."""
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    to_minari(t, "tests/seeds-v0", env, params, algorithm_name="x", seed=3, recording_seeds=(3, 5))
    to_minari(t, "tests/unknown-v0", env, params, algorithm_name="x", seed=3)
    rewards = np.array(t.rewards)
    rewards[4, 0] += 1.0
    to_minari(t.replace(rewards=rewards), "tests/other-v0", env, params, algorithm_name="x", seed=3)
    seeds, unknown, other = (dataset_info(f"tests/{name}-v0") for name in ("seeds", "unknown", "other"))
    assert seeds["recording_seeds"] == [3, 5] and unknown["recording_seeds"] is None
    assert len(seeds["fingerprint"]) == 64 and int(seeds["fingerprint"], 16) >= 0
    assert seeds["fingerprint"] == unknown["fingerprint"] != other["fingerprint"]
    json.dumps(seeds)
    data = {name: datasets_root / "tests" / f"{name}-v0" / "data" for name in ("unknown", "other")}
    shutil.rmtree(data["unknown"] / "4")
    shutil.copytree(data["other"] / "4", data["unknown"] / "4")
    assert dataset_info("tests/unknown-v0")["fingerprint"] == other["fingerprint"]
    for bad in [(5, 3), (-1, 2), (1.0, 2), (1, 2, 3)]:
        with pytest.raises(ValueError, match="recording_seeds"):
            to_minari(t, "tests/bad-v0", env, params, algorithm_name="x", seed=0, recording_seeds=bad)
    assert not (datasets_root / "tests" / "bad-v0").exists()


def test_a_missing_episode_folder_says_the_dataset_is_incomplete(recordings, datasets_root):
    """A deleted episode folder is reported as missing (the dataset incomplete), not as a corrupted file."""
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    to_minari(t, "tests/incomplete-v0", env, params, algorithm_name="x", seed=0)
    folder = datasets_root / "tests" / "incomplete-v0" / "data" / "3"
    shutil.rmtree(folder)
    for read in (lambda: from_minari("tests/incomplete-v0"), lambda: dataset_info("tests/incomplete-v0")):
        with pytest.raises(ValueError, match="missing") as error:
            read()
        message = str(error.value)
        assert str(folder) in message and "incomplete" in message and "corrupt" not in message, message


@pytest.mark.parametrize("dataset_id", ["jaxmarket/otc", "otc-lp", "jaxmarket/twap+always-passive-v0", "a b-v0", 3])
def test_a_malformed_id_names_the_format(dataset_id):
    """An id Minari cannot parse (no version, a character it does not allow, not a string) raises a
    ValueError naming ``dataset_id`` and the format, not Minari's internal error."""
    for call in (lambda: dataset_info(dataset_id), lambda: from_minari(dataset_id),
                 lambda: check_new_dataset_id(dataset_id)):
        with pytest.raises(ValueError, match=r"dataset_id = .* expected '\[namespace/\]name-v<version>'") as error:
            call()
        assert "int()" not in str(error.value) and "NoneType" not in str(error.value)


def test_a_new_id_is_checked_before_recording(recordings, datasets_root):
    """``check_new_dataset_id`` accepts a free, well-formed id (returning its folder) and refuses a taken one."""
    env, params, t = recordings("jaxmarket/MarketMaking-AS-v0")
    assert check_new_dataset_id("tests/new_one-v2") == datasets_root / "tests" / "new_one-v2"
    to_minari(t, "tests/taken-v0", env, params, algorithm_name="x", seed=0)
    with pytest.raises(ValueError, match="tests/taken-v0.*already exists"):
        check_new_dataset_id("tests/taken-v0")
