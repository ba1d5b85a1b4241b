"""Recorded episodes as Minari datasets (Farama's standard for offline RL), stored as Arrow files.

    trajectories = jm.record(env, params, policy, num_episodes=1_000, seed=0)
    to_minari(trajectories, "jaxmarket/otc-lp-v0/heuristic-v0", env, params, algorithm_name="heuristic", seed=0)
    again = from_minari("jaxmarket/otc-lp-v0/heuristic-v0")            # the same arrays, bit for bit
    dataset = minari.load_dataset("jaxmarket/otc-lp-v0/heuristic-v0")  # Minari's own reader reads it too

**Where.** A dataset lives at ``<root>/<dataset_id>/data``, ``<root>`` being the ``data_path``
argument, else the ``MINARI_DATASETS_PATH`` environment variable, else ``~/.minari/datasets``
(Minari's rule). ``dataset_id`` is Minari's ``[namespace/]name-v<version>``.

**Layout** (Minari 0.5's ``arrow`` storage, the one ``minari.create_dataset_from_buffers(...,
data_format="arrow")`` writes; https://minari.farama.org/content/dataset_standards/).
``data/metadata.json`` holds the dataset's metadata; Minari episode ``m`` is the directory
``data/<m>/`` with ``part-0.arrow``, an Arrow IPC file of ``steps + 1`` rows (one per observation;
columns ``observations``, ``actions``, ``rewards``, ``terminations``, ``truncations`` and, where
there is any, ``infos``; the last row's action, reward, termination and truncation are zero
padding), and ``metadata.json`` (``id``, ``total_steps``). A ``Box`` is a fixed-size list of its
dtype (the values flattened in C order), a ``Discrete`` action an int64 (gymnasium's dtype).

**Episodes.** Each recorded episode ``e`` is cut at ``lengths[e]`` (no padding is written). A
single-agent recording gives Minari episode ``e``; a multi-agent one stores one family, each
``(episode e, agent i)`` becoming Minari episode ``e * n_agents + i``.

**Infos** (per row, ``steps + 1`` rows): ``agent`` int32 ``(1,)``, the agent's index in its family
(multi-agent); ``acting`` bool ``(1,)``, the agent acted at that step (multi-agent; False on the last
row); ``type`` float32 ``(k,)``, the agent's type this episode, the same on every row, its columns
named by the metadata's ``jaxmarket.type_fields`` (where the env has agent types).

**Metadata.** Minari's keys (``dataset_id``, ``env_spec`` for a single-agent env registered with
gymnasium, ``algorithm_name``, ``author``, ``description``, ``ref_min_score``, ``ref_max_score``,
``minari_version``, the spaces, ``total_episodes``, ``total_steps``) and ``jaxmarket``: the env id
and the overrides it was made with, the family, the seed, where given the range ``[first, end)`` of
the seeds the recording used (``recording_seeds``; an evaluation with one of them would replay
recorded episodes), the arrays' dtypes and shapes, the type fields, the metric shapes and the env
parameters (``jax.tree_util.keystr`` path -> value). Each episode's ``metadata.json`` adds
``jaxmarket``: the recorded episode, the agent, the episode's metrics, and the byte count and
SHA-256 of its Arrow file (with the metrics), which the readers check: a truncated, extended or
corrupted file raises a ``ValueError`` naming it, and no episode is returned unchecked. The
dataset's fingerprint (``dataset_info``) is the SHA-256 over those per-episode SHA-256s, in
episode order: it changes whenever any episode's content does.

**Speed and memory.** Minari's own episode writer re-measures the whole dataset's size after each
episode (time quadratic in the episode count: 93 s for 2,000 episodes of 12 steps on a 2-core
CPU), so the episodes are
encoded here with pyarrow, in Minari's layout, while the dataset's directory and metadata are
made by ``minari``'s storage (``MinariStorage.new``, ``update_metadata``). Every function works in
chunks of episodes; each states its memory bound. For training, ``jax.device_put`` of what
``from_minari`` returns (or of each chunk of ``iterate_minari``) puts the arrays on the device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium
import jax
import numpy as np

from jaxmarket.core.agents import MultiAgent, adapter
from jaxmarket.core.record import Trajectories
from jaxmarket.core.spaces import Box, Discrete, to_gymnasium_space

if TYPE_CHECKING:  # imported where used: minari and pyarrow load only when a dataset is touched
    import minari

__all__ = [
    "DATASETS_PATH_VARIABLE",
    "DEFAULT_EPISODES_PER_CHUNK",
    "check_new_dataset_id",
    "dataset_info",
    "datasets_root",
    "from_minari",
    "iterate_minari",
    "to_minari",
]

DATASETS_PATH_VARIABLE = "MINARI_DATASETS_PATH"  # Minari's environment variable for the datasets root
DEFAULT_DATASETS_ROOT = ("~", ".minari", "datasets")  # Minari's root when the variable is unset
DEFAULT_EPISODES_PER_CHUNK = 1024  # recorded episodes encoded or decoded at a time
EXAMPLE_DATASET_ID = "jaxmarket/otc-lp-v0/heuristic-v0"  # what error messages show (jaxmarket dataset record's default)
DATA_FORMAT = "arrow"  # Minari's Arrow IPC storage
DATA_DIR = "data"  # a dataset's directory under <root>/<dataset_id>
METADATA_FILE = "metadata.json"  # the dataset's metadata in data/, each episode's in data/<m>/
EPISODE_FILE = "part-0.arrow"  # the file pyarrow's dataset writer names an episode's single part
NAMESPACE_METADATA_FILE = "namespace_metadata.json"  # Minari's marker of a namespace directory
METADATA_KEY = "jaxmarket"  # this module's entry in the dataset's and the episodes' metadata
FORMAT_VERSION = 1  # the version of what this module stores under METADATA_KEY
SHAPE_METADATA = b"shape"  # Minari's field metadata: the per-row shape of an info array
INFO_AGENT = "agent"
INFO_ACTING = "acting"
INFO_TYPE = "type"
COLUMNS = ("observations", "actions", "rewards", "terminations", "truncations")
INFOS_COLUMN = "infos"
REWARD_DTYPE = np.dtype(np.float32)
FLAG_DTYPE = np.dtype(np.bool_)
AGENT_DTYPE = np.dtype(np.int32)
LENGTH_DTYPE = np.dtype(np.int32)
DISCRETE_STORAGE_DTYPE = np.dtype(np.int64)  # gymnasium's Discrete dtype, what Minari stores


def _minari() -> Any:
    try:
        import minari
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("Minari datasets need the minari package: pip install 'minari[arrow]'") from error
    return minari


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("Minari's arrow storage needs pyarrow: pip install 'minari[arrow]'") from error
    return pyarrow


# ---------------------------------------------------------------------------------------------
# Where datasets live


def datasets_root(data_path: str | os.PathLike | None = None) -> Path:
    """The datasets root: ``data_path``, else ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``."""
    if data_path is not None:
        return Path(data_path).expanduser()
    env = os.environ.get(DATASETS_PATH_VARIABLE)
    return Path(env).expanduser() if env else Path(*DEFAULT_DATASETS_ROOT).expanduser()


def _check_dataset_id(dataset_id: Any) -> None:
    """Minari's id format ``[namespace/]name-v<version>``, the version required (Minari's own
    ``parse_dataset_id`` accepts an id without one and then fails on it with a ``TypeError``)."""
    from minari.dataset.minari_dataset import DATASET_ID_RE

    match = DATASET_ID_RE.fullmatch(dataset_id) if isinstance(dataset_id, str) else None
    if match is None or match.group("version") is None:
        raise ValueError(f"dataset_id = {dataset_id!r} is not a Minari id: expected '[namespace/]name-v<version>', "
                         f"e.g. {EXAMPLE_DATASET_ID!r} (letters, digits, '-' and '_', namespaces separated by '/', "
                         f"the version an integer)")


def check_new_dataset_id(dataset_id: str, data_path: str | os.PathLike | None = None) -> Path:
    """Check that ``dataset_id`` is a Minari id and that no dataset (or other file) is there yet: what
    ``to_minari`` checks before writing, for a caller to check before recording.

    Args:
      dataset_id: Minari's ``[namespace/]name-v<version>``.
      data_path: the datasets root (as ``to_minari``).

    Returns:
      The dataset's directory, ``<root>/<dataset_id>``.

    Raises:
      ValueError: a malformed id (naming the expected format), or an existing directory.
    """
    _check_dataset_id(dataset_id)
    dataset_dir = datasets_root(data_path) / dataset_id
    if dataset_dir.exists():
        raise ValueError(f"dataset_id = {dataset_id!r}: {dataset_dir} already exists (delete it or choose another "
                         f"name or version)")
    return dataset_dir


def _local_datasets(root: Path) -> list[str]:
    """The dataset ids under ``root`` (directories holding ``data/metadata.json``)."""
    found = []
    if root.is_dir():
        for directory, subdirs, _ in os.walk(root):
            if DATA_DIR in subdirs and (Path(directory) / DATA_DIR / METADATA_FILE).is_file():
                found.append(Path(directory).relative_to(root).as_posix())
                subdirs.clear()  # a dataset holds no dataset: do not walk its episodes
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
    return sorted(found)


def _data_dir(dataset_id: str, data_path: str | os.PathLike | None) -> Path:
    """The existing ``data`` directory of ``dataset_id``, or a ``ValueError`` listing where it looked."""
    _check_dataset_id(dataset_id)
    root = datasets_root(data_path)
    data_dir = root / dataset_id / DATA_DIR
    if not (data_dir / METADATA_FILE).is_file():
        source = ("the data_path argument" if data_path is not None
                  else f"${DATASETS_PATH_VARIABLE}" if os.environ.get(DATASETS_PATH_VARIABLE)
                  else "Minari's default root")
        raise ValueError(f"dataset_id = {dataset_id!r}: no Minari dataset at {data_dir} (no {METADATA_FILE}); "
                         f"looked under {root} ({source}), which holds {_local_datasets(root) or 'no dataset'}")
    return data_dir


def _read_json(path: Path) -> dict:
    try:
        with open(path) as file:
            value = json.load(file)
    except FileNotFoundError:
        where = "" if path.parent.is_dir() else f"; its folder {path.parent} is missing too"
        raise ValueError(f"{path}: missing{where} (the dataset is incomplete)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not readable JSON ({error}): the file is truncated or corrupted") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: a JSON {type(value).__name__}, expected an object: the file is corrupted")
    return value


# ---------------------------------------------------------------------------------------------
# What a dataset holds: dtypes and shapes, checked against the env when writing


@dataclass(frozen=True)
class _Layout:
    """The arrays of one Minari episode and how they map back to ``Trajectories``."""

    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    action_shape: tuple[int, ...]
    action_dtype: np.dtype  # the recording's dtype (a Discrete action is stored as int64)
    discrete: bool
    family: str | None
    num_agents: int  # 1 for a single-agent recording
    type_fields: tuple[str, ...] | None
    types_dtype: np.dtype | None
    metrics: dict[str, tuple[np.dtype, tuple[int, ...]]]  # name -> (dtype, per-episode shape)

    @property
    def multi(self) -> bool:
        return self.family is not None

    def info_fields(self) -> list[tuple[str, np.dtype, int]]:
        """``(name, dtype, width)`` of the infos, in column order."""
        out = []
        if self.multi:
            out += [(INFO_AGENT, AGENT_DTYPE, 1), (INFO_ACTING, FLAG_DTYPE, 1)]
        if self.type_fields is not None:
            out.append((INFO_TYPE, self.types_dtype, len(self.type_fields)))
        return out

    def schema(self) -> Any:
        """The Arrow schema of an episode file (the types Minari's encoder gives these spaces)."""
        pa = _pyarrow()
        fields = [
            pa.field("observations", _list_type(self.obs_dtype, self.obs_shape)),
            pa.field("actions", pa.from_numpy_dtype(DISCRETE_STORAGE_DTYPE) if self.discrete
                     else _list_type(self.action_dtype, self.action_shape)),
            pa.field("rewards", pa.from_numpy_dtype(REWARD_DTYPE)),
            pa.field("terminations", pa.bool_()),
            pa.field("truncations", pa.bool_()),
        ]
        infos = self.info_fields()
        if infos:
            fields.append(pa.field(INFOS_COLUMN, pa.struct([_info_field(n, d, w) for n, d, w in infos])))
        return pa.schema(fields)

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "family": self.family,
            "num_agents": self.num_agents,
            "observation_shape": list(self.obs_shape),
            "observation_dtype": self.obs_dtype.name,
            "action_shape": list(self.action_shape),
            "action_dtype": self.action_dtype.name,
            "discrete_action": self.discrete,
            "type_fields": None if self.type_fields is None else list(self.type_fields),
            "types_dtype": None if self.types_dtype is None else self.types_dtype.name,
            "metrics": {name: {"dtype": d.name, "shape": list(s)} for name, (d, s) in self.metrics.items()},
        }

    @classmethod
    def from_json(cls, value: dict, path: Path) -> _Layout:
        try:
            if value["format_version"] != FORMAT_VERSION:
                raise ValueError(f"{path}: {METADATA_KEY}.format_version = {value['format_version']!r}, "
                                 f"this jaxmarket reads version {FORMAT_VERSION}")
            type_fields = value["type_fields"]
            return cls(
                obs_shape=tuple(int(n) for n in value["observation_shape"]),
                obs_dtype=np.dtype(value["observation_dtype"]),
                action_shape=tuple(int(n) for n in value["action_shape"]),
                action_dtype=np.dtype(value["action_dtype"]),
                discrete=bool(value["discrete_action"]),
                family=value["family"],
                num_agents=int(value["num_agents"]),
                type_fields=None if type_fields is None else tuple(type_fields),
                types_dtype=None if value["types_dtype"] is None else np.dtype(value["types_dtype"]),
                metrics={name: (np.dtype(m["dtype"]), tuple(int(n) for n in m["shape"]))
                         for name, m in value["metrics"].items()},
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: the {METADATA_KEY!r} entry is incomplete or malformed ({error!r}); "
                             f"not a dataset written by jaxmarket.data.to_minari, or a corrupted one") from None


def _list_type(dtype: np.dtype, shape: tuple[int, ...]) -> Any:
    pa = _pyarrow()
    return pa.list_(pa.from_numpy_dtype(dtype), list_size=math.prod(shape))


def _info_field(name: str, dtype: np.dtype, width: int) -> Any:
    pa = _pyarrow()
    return pa.field(name, pa.list_(pa.from_numpy_dtype(dtype), list_size=width), metadata={SHAPE_METADATA: str(width)})


def _expect(field: str, got: Any, expected: Any, what: str) -> None:
    if got != expected:
        raise ValueError(f"{field}: {what} {got}, expected {expected}")


def _array(field: str, value: Any) -> Any:
    """``value`` as an array: a numpy or JAX array as it is (a device array is not copied to the
    host just to be checked), anything else through ``np.asarray``."""
    if value is None or isinstance(value, dict):
        raise ValueError(f"{field}: {type(value).__name__}, expected an array")
    return value if isinstance(value, np.ndarray | jax.Array) else np.asarray(value)


def _check_shape_dtype(field: str, value: Any, shape: tuple[int, ...], dtype: np.dtype | None, space: Any = None
                       ) -> Any:
    array = _array(field, value)
    where = f" (the env's {space!r})" if space is not None else ""
    if tuple(array.shape) != shape:
        raise ValueError(f"{field}: shape {tuple(array.shape)}, expected {shape}{where}")
    if dtype is not None and array.dtype != dtype:
        raise ValueError(f"{field}: dtype {array.dtype}, expected {dtype}{where}")
    return array


def _family_value(field: str, value: Any, family: str | None) -> Any:
    """``value[family]`` for a multi-agent recording, ``value`` for a single-agent one."""
    if family is None:
        if isinstance(value, dict):
            raise ValueError(f"{field}: a dict {sorted(value)}, expected an array (a single-agent env)")
        return value
    if not isinstance(value, dict) or family not in value:
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise ValueError(f"{field}: {got}, expected a dict with the family {family!r} (a multi-agent env)")
    return value[family]


def _layout(t: Any, env: Any, params: Any, family: str | None) -> tuple[_Layout, dict]:
    """Check a recording against the env and return its layout and its arrays (numpy views where
    possible). Every mismatch raises a ``ValueError`` naming the field and the expected value."""
    if not isinstance(t, Trajectories):
        raise ValueError(f"trajectories: a {type(t).__name__}, expected jaxmarket.Trajectories (from jm.record)")
    multi = isinstance(adapter(env), MultiAgent)
    if multi:
        families = tuple(env.families)
        if family not in families:
            raise ValueError(f"family = {family!r}: a multi-agent env needs one of {list(families)} "
                             f"(a dataset holds one family)")
        obs_space, action_space = env.observation_space(family, params), env.action_space(family, params)
        n = int(env.num_agents[family])
        agent_axis: tuple[int, ...] = (n,)
    else:
        if family is not None:
            raise ValueError(f"family = {family!r}: a single-agent env has no families (give None)")
        obs_space, action_space = env.observation_space(params), env.action_space(params)
        n, agent_axis = 1, ()
    if not isinstance(obs_space, Box) or not isinstance(action_space, Box | Discrete):
        raise ValueError(f"env spaces {obs_space!r}, {action_space!r}: stored are a Box observation space and a Box "
                         f"or Discrete action space")
    lengths = np.asarray(_array("trajectories.lengths", t.lengths))
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"trajectories.lengths: shape {lengths.shape} dtype {lengths.dtype}, "
                         f"expected an integer array (num_episodes,)")
    num_episodes = lengths.shape[0]
    if num_episodes == 0:
        raise ValueError("trajectories: 0 episodes, expected at least 1 (an empty dataset is not written)")
    rewards = _array("trajectories.rewards", _family_value("trajectories.rewards", t.rewards, family))
    if rewards.ndim < 2:
        raise ValueError(f"trajectories.rewards: shape {rewards.shape}, expected (num_episodes, num_steps, ...)")
    steps = rewards.shape[1]
    if lengths.min() < 1 or lengths.max() > steps:
        raise ValueError(f"trajectories.lengths: values in [{lengths.min()}, {lengths.max()}], expected in [1, {steps}]"
                         f" (the steps of each episode, at most the recording's {steps})")
    sub = f"[{family!r}]" if multi else ""
    obs_dtype = np.dtype(obs_space.dtype)
    action_dtype = np.dtype(action_space.dtype)
    discrete = isinstance(action_space, Discrete)
    arrays = {
        "observations": _check_shape_dtype(
            f"trajectories.observations{sub}", _family_value("trajectories.observations", t.observations, family),
            (num_episodes, steps + 1, *agent_axis, *obs_space.shape), obs_dtype, obs_space),
        "rewards": _check_shape_dtype(f"trajectories.rewards{sub}", rewards, (num_episodes, steps, *agent_axis),
                                      REWARD_DTYPE),
        "lengths": lengths,
    }
    actions = _check_shape_dtype(
        f"trajectories.actions{sub}", _family_value("trajectories.actions", t.actions, family),
        (num_episodes, steps, *agent_axis, *action_space.shape), None if discrete else action_dtype, action_space)
    if discrete and not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"trajectories.actions{sub}: dtype {actions.dtype}, expected an integer dtype "
                         f"(the env's {action_space!r})")
    arrays["actions"] = actions
    for name in ("terminations", "truncations"):
        arrays[name] = _check_shape_dtype(f"trajectories.{name}{sub}", _family_value(f"trajectories.{name}",
                                          getattr(t, name), family), (num_episodes, steps, *agent_axis), FLAG_DTYPE)
    if multi:
        arrays["acting"] = _check_shape_dtype(f"trajectories.acting{sub}",
                                              _family_value("trajectories.acting", t.acting, family),
                                              (num_episodes, steps, n), FLAG_DTYPE)
    elif t.acting is not None:
        raise ValueError(f"trajectories.acting: {type(t.acting).__name__}, expected None (a single-agent env)")
    env_fields = getattr(env, "type_fields", None)
    type_fields = None
    types_dtype = None
    if t.types is not None:
        if env_fields is None:
            raise ValueError(f"trajectories.types: {type(t.types).__name__}, expected None "
                             f"(the env has no agent types)")
        type_fields = tuple(env_fields[family] if multi else env_fields)
        types = _array(f"trajectories.types{sub}", _family_value("trajectories.types", t.types, family))
        if not np.issubdtype(types.dtype, np.floating):
            raise ValueError(f"trajectories.types{sub}: dtype {types.dtype}, expected a float dtype")
        arrays["types"] = _check_shape_dtype(f"trajectories.types{sub}", types,
                                             (num_episodes, *agent_axis, len(type_fields)), None)
        types_dtype = types.dtype
    if not isinstance(t.metrics, dict):
        raise ValueError(f"trajectories.metrics: {type(t.metrics).__name__}, "
                         f"expected a dict name -> (num_episodes, ...)")
    metrics = {}
    for name, value in t.metrics.items():
        array = _array(f"trajectories.metrics[{name!r}]", value)
        if array.ndim < 1 or array.shape[0] != num_episodes:
            raise ValueError(f"trajectories.metrics[{name!r}]: shape {array.shape}, expected ({num_episodes}, ...)")
        metrics[name] = array
    arrays["metrics"] = metrics
    layout = _Layout(
        obs_shape=tuple(obs_space.shape), obs_dtype=obs_dtype, action_shape=tuple(action_space.shape),
        action_dtype=actions.dtype if discrete else action_dtype, discrete=discrete, family=family, num_agents=n,
        type_fields=type_fields, types_dtype=types_dtype,
        metrics={name: (a.dtype, tuple(a.shape[1:])) for name, a in metrics.items()},
    )
    return layout, arrays


# ---------------------------------------------------------------------------------------------
# One Minari episode <-> one Arrow IPC file


def _fixed_list(values: np.ndarray, rows: int, dtype: np.dtype) -> Any:
    pa = _pyarrow()
    flat = np.ascontiguousarray(values, dtype).reshape(rows, -1)
    width = flat.shape[1]
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), type=pa.list_(pa.from_numpy_dtype(dtype),
                                                                                       list_size=width))


def _pad_rows(values: np.ndarray) -> np.ndarray:
    """``values`` with one zero row appended (Minari pads actions, rewards and flags to the observations)."""
    return np.concatenate([values, np.zeros((1, *values.shape[1:]), values.dtype)])


def _encode_episode(layout: _Layout, arrays: dict, e: int, agent: int) -> Any:
    """The record batch of recorded episode ``e`` (relative to the chunk), agent ``agent``."""
    pa = _pyarrow()
    steps = int(arrays["lengths"][e])
    rows = steps + 1
    pick = (lambda a: a[e, :, agent]) if layout.multi else (lambda a: a[e])  # noqa: E731
    obs = pick(arrays["observations"])[:rows]
    actions = _pad_rows(pick(arrays["actions"])[:steps])
    columns = {
        "observations": _fixed_list(obs, rows, layout.obs_dtype),
        "actions": (pa.array(actions.astype(DISCRETE_STORAGE_DTYPE)) if layout.discrete
                    else _fixed_list(actions, rows, layout.action_dtype)),
        "rewards": pa.array(_pad_rows(pick(arrays["rewards"])[:steps])),
        "terminations": pa.array(_pad_rows(pick(arrays["terminations"])[:steps])),
        "truncations": pa.array(_pad_rows(pick(arrays["truncations"])[:steps])),
    }
    infos = []
    for name, dtype, width in layout.info_fields():
        if name == INFO_AGENT:
            value = np.full((rows, 1), agent, dtype)
        elif name == INFO_ACTING:
            value = _pad_rows(arrays["acting"][e, :steps, agent])[:, None]
        else:
            row = arrays["types"][e, agent] if layout.multi else arrays["types"][e]
            value = np.broadcast_to(row, (rows, width))
        infos.append(_fixed_list(value, rows, dtype))
    if infos:
        columns[INFOS_COLUMN] = pa.StructArray.from_arrays(
            infos, fields=[_info_field(n, d, w) for n, d, w in layout.info_fields()])
    return pa.RecordBatch.from_arrays(list(columns.values()), schema=layout.schema())


def _metrics_json(arrays: dict, e: int) -> dict:
    return {name: value[e].tolist() for name, value in arrays["metrics"].items()}


def _digest(raw: Any, metrics: dict) -> str:
    """SHA-256 of an episode file's bytes and its metrics (as their canonical JSON)."""
    digest = hashlib.sha256(memoryview(raw))
    digest.update(json.dumps(metrics, sort_keys=True).encode())
    return digest.hexdigest()


def _write_episode(data_dir: Path, m: int, batch: Any, meta: dict, metrics: dict) -> int:
    """Write Minari episode ``m``; returns its file's size in bytes."""
    pa = _pyarrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)
    raw = sink.getvalue()
    episode_dir = data_dir / str(m)
    episode_dir.mkdir()
    with open(episode_dir / EPISODE_FILE, "wb") as file:
        file.write(memoryview(raw))
    meta = {"id": m, "total_steps": batch.num_rows - 1,
            METADATA_KEY: {**meta, "metrics": metrics, "bytes": raw.size, "sha256": _digest(raw, metrics)}}
    with open(episode_dir / METADATA_FILE, "w") as file:
        json.dump(meta, file)
    return raw.size


def _column(table: Any, name: str, file: Path) -> Any:
    column = table.column(name).combine_chunks()
    if column.null_count:
        raise ValueError(f"{file}: column {name!r} has {column.null_count} null values: the file is corrupted")
    return column


def _list_values(array: Any, rows: int, shape: tuple[int, ...], dtype: np.dtype, file: Path, name: str) -> np.ndarray:
    values = array.flatten()
    if values.null_count:
        raise ValueError(f"{file}: {name} has {values.null_count} null values: the file is corrupted")
    return values.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(rows, *shape)


def _read_episode(data_dir: Path, m: int, layout: _Layout) -> dict:
    """Minari episode ``m``, checked: its metadata, its file's size and SHA-256, its schema and rows."""
    pa = _pyarrow()
    episode_dir = data_dir / str(m)
    meta_file = episode_dir / METADATA_FILE
    file = episode_dir / EPISODE_FILE
    meta = _read_json(meta_file)
    try:
        ours = meta[METADATA_KEY]
        steps, size, sha, metrics = int(meta["total_steps"]), int(ours["bytes"]), ours["sha256"], ours["metrics"]
        recorded = (int(ours["episode"]), int(ours["agent"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{meta_file}: incomplete or malformed ({error!r}); not written by "
                         f"jaxmarket.data.to_minari, or corrupted") from None
    if meta.get("id") != m or steps < 1:
        raise ValueError(f"{meta_file}: id {meta.get('id')!r} and total_steps {steps}, expected id {m} and "
                         f"total_steps >= 1: the file is corrupted")
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{file}: missing (the dataset is incomplete)") from None
    if len(raw) != size:
        what = "truncated" if len(raw) < size else "longer than written"
        raise ValueError(f"{file}: {len(raw)} bytes, expected {size} (recorded in {meta_file}): the file is {what}")
    if _digest(raw, metrics) != sha:
        raise ValueError(f"{file}: its SHA-256 (with the metrics in {meta_file}) differs from the one recorded when "
                         f"it was written: the file or its metadata is corrupted")
    try:
        table = pa.ipc.open_file(pa.py_buffer(raw)).read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{file}: not a valid Arrow IPC file ({error})") from None
    expected = layout.schema()
    if not table.schema.equals(expected):
        raise ValueError(f"{file}: schema {table.schema}, expected {expected}")
    rows = steps + 1
    _expect(str(file), table.num_rows, rows, "rows")
    obs = _list_values(_column(table, "observations", file), rows, layout.obs_shape, layout.obs_dtype, file,
                       "observations")
    actions_column = _column(table, "actions", file)
    if layout.discrete:
        actions = actions_column.to_numpy().astype(layout.action_dtype)[:steps]
    else:
        actions = _list_values(actions_column, rows, layout.action_shape, layout.action_dtype, file, "actions")[:steps]
    out = {
        "episode": recorded,
        "observations": obs,
        "actions": actions,
        "rewards": _column(table, "rewards", file).to_numpy()[:steps],
        "terminations": _column(table, "terminations", file).to_numpy(zero_copy_only=False)[:steps],
        "truncations": _column(table, "truncations", file).to_numpy(zero_copy_only=False)[:steps],
        "metrics": metrics,
    }
    if layout.info_fields():
        infos = _column(table, INFOS_COLUMN, file)
        for name, dtype, width in layout.info_fields():
            value = _list_values(infos.field(name), rows, (width,), dtype, file, f"infos.{name}")
            if name == INFO_AGENT:
                if not (value == recorded[1]).all():
                    raise ValueError(f"{file}: infos.agent is not {recorded[1]} on every row: the file is corrupted")
            elif name == INFO_ACTING:
                out["acting"] = value[:steps, 0]
            else:
                if not (value.view(np.uint8) == value[:1].view(np.uint8)).all():
                    raise ValueError(f"{file}: infos.type differs across rows (it is the episode's type)")
                out["types"] = value[0]
    return out


# ---------------------------------------------------------------------------------------------
# Writing


def _check_score(name: str, value: Any) -> float | None:
    if value is None:
        return None
    number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if not number or not math.isfinite(value):
        raise ValueError(f"{name} = {value!r} is not a finite number (an average episode return)")
    return float(value)


def _params_json(params: Any) -> dict:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf).tolist() for path, leaf in leaves}


def _env_id(env: Any, env_id: str | None) -> str | None:
    if env_id is not None:
        if not isinstance(env_id, str):
            raise ValueError(f"env_id = {env_id!r} is not a string such as 'jaxmarket/OTC-LP-v0'")
        return env_id
    name = getattr(env, "name", None)
    return f"jaxmarket/{name}" if isinstance(name, str) else None


def _gymnasium_spec(env_id: str | None, multi: bool, env_kwargs: dict) -> Any:
    """gymnasium's spec of a single-agent env registered with it, its kwargs joined by ``env_kwargs``;
    None for a multi-agent env or an id gymnasium does not know."""
    if multi or env_id is None or env_id not in gymnasium.registry:
        return None
    spec = gymnasium.spec(env_id)
    return dataclasses.replace(spec, kwargs={**spec.kwargs, **env_kwargs}) if env_kwargs else spec


def _check_env_kwargs(env_kwargs: Any) -> dict:
    if env_kwargs is None:
        return {}
    if not isinstance(env_kwargs, dict) or not all(isinstance(k, str) for k in env_kwargs):
        raise ValueError(f"env_kwargs = {env_kwargs!r}: expected a dict of jm.make overrides by name")
    try:
        json.dumps(env_kwargs, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"env_kwargs = {env_kwargs!r}: expected JSON values (numbers, strings, lists): "
                         f"{error}") from None
    return dict(env_kwargs)


def _chunks(trajectories: Trajectories | Iterable[Trajectories]) -> Iterator[Trajectories]:
    if isinstance(trajectories, Trajectories):
        yield trajectories
        return
    if not isinstance(trajectories, Iterable):
        raise ValueError(f"trajectories: a {type(trajectories).__name__}, expected jaxmarket.Trajectories "
                         f"(from jm.record) or an iterable of them")
    yield from trajectories


def _slice_episodes(t: Trajectories, start: int, stop: int) -> Trajectories:
    """Episodes ``[start, stop)``, as numpy (a device array is copied to the host chunk by chunk)."""
    return jax.tree.map(lambda a: np.asarray(a[start:stop]), t)


def _topmost_new(path: Path) -> Path | None:
    """The highest ancestor of ``path`` (or ``path``) that does not exist yet: what to remove on failure."""
    new = None
    for candidate in [path, *path.parents]:
        if candidate.exists():
            break
        new = candidate
    return new


def to_minari(
    trajectories: Trajectories | Iterable[Trajectories],
    dataset_id: str,
    env: Any,
    params: Any,
    *,
    family: str | None = None,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    algorithm_name: str,
    seed: int,
    ref_min_score: float | None = None,
    ref_max_score: float | None = None,
    author: str | None = None,
    description: str | None = None,
    data_path: str | os.PathLike | None = None,
    episodes_per_chunk: int = DEFAULT_EPISODES_PER_CHUNK,
    recording_seeds: tuple[int, int] | None = None,
) -> minari.MinariDataset:
    """Write recorded episodes as the Minari dataset ``dataset_id`` (Arrow storage).

    Args:
      trajectories: from ``jm.record`` (numpy or device arrays), or an iterable of them written one
        after another (recorded episode indices continue across them), each with the same dtypes,
        shapes of one step, types and metrics. Each episode is cut at ``lengths[e]`` (``1 <=
        lengths[e] <= T``).
      dataset_id: Minari's ``[namespace/]name-v<version>``, e.g. ``"jaxmarket/otc-lp-v0/heuristic-v0"``;
        it must not exist yet.
      env: the env that made the recording (its spaces, agent counts and type fields are checked
        against it and stored).
      params: its parameters (stored in the metadata, each leaf by its ``keystr`` path).
      family: for a ``MultiAgentEnv`` the family to store (required): each ``(episode, agent)`` of it
        becomes one Minari episode. None for a single-agent env.
      env_id: the registered id; defaults to ``"jaxmarket/" + env.name``. A single-agent id known to
        gymnasium is stored as Minari's ``env_spec`` (with ``env_kwargs``; the recording's own
        parameters are in ``jaxmarket.params`` in any case); a multi-agent
        env has no gymnasium spec, its id is in the description and in ``jaxmarket.env_id``.
      env_kwargs: the overrides ``env`` was made with (``jm.make(env_id, **env_kwargs)``), JSON
        values; stored in ``jaxmarket.env_kwargs`` and in the gymnasium spec's kwargs, so that
        Minari's ``recover_environment()`` builds the same env. Without them the spec is the
        default configuration's.
      algorithm_name: the policy that made the data (Minari's ``algorithm_name``).
      seed: the recording's seed.
      ref_min_score: a random policy's mean episode return (Minari's ``ref_min_score``, for
        ``minari.get_normalized_score``); stored where given.
      ref_max_score: the best baseline's mean episode return (``ref_max_score``); stored where given.
      author: Minari's ``author``; stored where given.
      description: Minari's ``description``; defaults to one naming the policy, the env id, the
        family and the seed.
      data_path: the datasets root; defaults to ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``.
      episodes_per_chunk: recorded episodes taken to the host and encoded at a time.
      recording_seeds: ``(first, end)``: the recording used the seeds ``first <= s < end`` (not
        necessarily all of them), e.g. ``(seed, seed + 1)`` for one ``jm.record`` call; stored as
        ``jaxmarket.recording_seeds`` so that an evaluation can avoid them (``jm.evaluate`` with
        one of them replays recorded episodes' randomness). None: not stored (unknown).

    Returns:
      The ``minari.MinariDataset`` (Minari's own reader over the files written).

    Memory: beyond the input, at most one chunk of ``episodes_per_chunk`` episodes as numpy
    arrays (a copy only where the input is on a device) and one Minari episode's Arrow file
    (``(T + 1) ×`` its bytes per step).

    Raises:
      ValueError: before anything is written: a malformed or existing ``dataset_id``; 0 episodes;
        a recording that does not match the env (the field and the expected shape or dtype are
        named); a missing, unknown or superfluous ``family``; ``lengths`` outside ``[1, T]``; a
        non-finite reference score; an invalid ``seed``, ``algorithm_name``,
        ``episodes_per_chunk`` or ``recording_seeds``; ``env_kwargs`` that are not JSON. A later
        chunk of an iterable input that does not match the first raises the same way, and the
        partly written dataset is removed: a failed call leaves no dataset behind.
    """
    minari = _minari()
    _check_dataset_id(dataset_id)
    seeds = _check_recording_seeds(recording_seeds, "recording_seeds")
    if not isinstance(algorithm_name, str) or not algorithm_name:
        raise ValueError(f"algorithm_name = {algorithm_name!r}: expected a non-empty string naming the policy")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed = {seed!r} is not an integer")
    if isinstance(episodes_per_chunk, bool) or not isinstance(episodes_per_chunk, int | np.integer) \
            or episodes_per_chunk < 1:
        raise ValueError(f"episodes_per_chunk = {episodes_per_chunk!r}: expected an integer >= 1")
    scores = {"ref_min_score": _check_score("ref_min_score", ref_min_score),
              "ref_max_score": _check_score("ref_max_score", ref_max_score)}
    for name, value in (("author", author), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} = {value!r} is not a string")
    chunks = _chunks(trajectories)
    first = next(chunks, None)
    if first is None:
        raise ValueError("trajectories: an empty iterable, expected at least one Trajectories with 1 or more episodes")
    layout, _ = _layout(first, env, params, family)
    env_id = _env_id(env, env_id)
    env_kwargs = _check_env_kwargs(env_kwargs)
    root = datasets_root(data_path)
    dataset_dir = check_new_dataset_id(dataset_id, data_path)
    multi = layout.multi
    spec = _gymnasium_spec(env_id, multi, env_kwargs)
    if description is None:
        agents = (f", family {family!r} ({layout.num_agents} agents; Minari episode e * {layout.num_agents} + i is "
                  f"agent i of recorded episode e)" if multi else "")
        description = (f"Episodes of {algorithm_name} on {env_id or type(env).__name__}{agents}, recorded by "
                       f"jaxmarket.record with seed {int(seed)}")

    created = _topmost_new(dataset_dir)
    try:
        from minari.dataset.minari_storage import MinariStorage

        data_dir = dataset_dir / DATA_DIR
        data_dir.mkdir(parents=True)
        _mark_namespaces(root, dataset_id)
        storage = MinariStorage.new(
            data_dir, observation_space=to_gymnasium_space(
                env.observation_space(family, params) if multi else env.observation_space(params)),
            action_space=to_gymnasium_space(env.action_space(family, params) if multi else env.action_space(params)),
            env_spec=spec, data_format=DATA_FORMAT, jpeg_encoding=False)
        metadata: dict[str, Any] = {
            "dataset_id": dataset_id,
            "algorithm_name": algorithm_name,
            "description": description,
            "minari_version": minari.__version__,
            **{k: v for k, v in scores.items() if v is not None},
            METADATA_KEY: {**layout.to_json(), "env_id": env_id, "env_kwargs": env_kwargs, "seed": int(seed),
                           **({} if seeds is None else {"recording_seeds": seeds}),
                           "env_class": type(env).__name__, "params": _params_json(params)},
        }
        if author is not None:
            metadata["author"] = {author}
        storage.update_metadata(metadata)
        total_episodes = total_steps = 0
        offset = 0  # recorded episodes written so far
        for index, chunk in enumerate(_join(first, chunks)):
            chunk_layout, _ = _layout(chunk, env, params, family)
            if chunk_layout != layout:
                raise ValueError(f"trajectories: chunk {index} stores {chunk_layout}, expected {layout} (chunk 0's)")
            for start in range(0, chunk.num_episodes, episodes_per_chunk):
                part = _slice_episodes(chunk, start, min(start + episodes_per_chunk, chunk.num_episodes))
                _, arrays = _layout(part, env, params, family)
                for e in range(part.num_episodes):
                    metrics = _metrics_json(arrays, e)
                    for agent in range(layout.num_agents):
                        m = (offset + e) * layout.num_agents + agent
                        batch = _encode_episode(layout, arrays, e, agent)
                        _write_episode(data_dir, m, batch, {"episode": offset + e, "agent": agent}, metrics)
                        total_episodes += 1
                        total_steps += batch.num_rows - 1
                offset += part.num_episodes
            storage.update_metadata({"total_episodes": total_episodes, "total_steps": total_steps})
        storage.update_metadata({"dataset_size": storage.get_size(),
                                 METADATA_KEY: {**metadata[METADATA_KEY], "num_episodes": offset}})
        return minari.MinariDataset(storage)
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _check_recording_seeds(value: Any, where: str) -> list[int] | None:
    """``[first, end)`` as a list of two ints with ``0 <= first < end``, None for None; else a
    ``ValueError`` naming ``where`` (the argument, or the metadata file that holds the value)."""
    if value is None:
        return None
    pair = list(value) if isinstance(value, list | tuple) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                                                 for v in pair) or not 0 <= pair[0] < pair[1]:
        raise ValueError(f"{where} = {value!r}: expected (first, end), the recording's seeds s with first <= s < end, "
                         f"integers with 0 <= first < end")
    return [int(v) for v in pair]


def _join(first: Trajectories, rest: Iterator[Trajectories]) -> Iterator[Trajectories]:
    yield first
    yield from rest


def _mark_namespaces(root: Path, dataset_id: str) -> None:
    """Minari's marker file (empty metadata) in each namespace directory of ``dataset_id`` that has none."""
    parts = dataset_id.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        marker = root.joinpath(*parts[:depth], NAMESPACE_METADATA_FILE)
        if not marker.exists():
            marker.write_text("{}")


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class _Dataset:
    data_dir: Path
    metadata: dict
    layout: _Layout
    num_episodes: int  # recorded episodes


def _open(dataset_id: str, data_path: str | os.PathLike | None) -> _Dataset:
    data_dir = _data_dir(dataset_id, data_path)
    path = data_dir / METADATA_FILE
    metadata = _read_json(path)
    if METADATA_KEY not in metadata or not isinstance(metadata[METADATA_KEY], dict):
        raise ValueError(f"{path}: no {METADATA_KEY!r} entry: not a dataset written by jaxmarket.data.to_minari "
                         f"(read it with minari.load_dataset)")
    layout = _Layout.from_json(metadata[METADATA_KEY], path)
    try:
        num_episodes = int(metadata[METADATA_KEY]["num_episodes"])
        total = int(metadata["total_episodes"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: incomplete ({error!r}): the dataset was not finished or is corrupted") from None
    if total != num_episodes * layout.num_agents or num_episodes < 1:
        raise ValueError(f"{path}: total_episodes {total}, expected {num_episodes} recorded episodes × "
                         f"{layout.num_agents} agents: the metadata is corrupted")
    return _Dataset(data_dir, metadata, layout, num_episodes)


def _check_episodes(episodes: Any, num_episodes: int) -> list[int]:
    if episodes is None:
        return list(range(num_episodes))
    values = np.asarray(episodes)
    if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer) \
            or values.min() < 0 or values.max() >= num_episodes:
        raise ValueError(f"episodes = {episodes!r}: expected a non-empty sequence of recorded episode indices in "
                         f"[0, {num_episodes - 1}]")
    return [int(e) for e in values]


def _assemble(dataset: _Dataset, episodes: Sequence[int]) -> Trajectories:
    """Read and check the Minari episodes of ``episodes``; pad to the longest (see ``from_minari``)."""
    layout, n = dataset.layout, dataset.layout.num_agents
    ids = [[e * n + agent for agent in range(n)] for e in episodes]
    lengths = np.zeros(len(episodes), LENGTH_DTYPE)
    for row, ms in enumerate(ids):
        path = dataset.data_dir / str(ms[0]) / METADATA_FILE
        meta = _read_json(path)  # a missing or unreadable file raises naming it and what is wrong
        try:
            lengths[row] = int(meta["total_steps"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: no valid total_steps ({error!r}): the file is corrupted") from None
    steps = int(lengths.max())
    if lengths.min() < 1:
        raise ValueError(f"{dataset.data_dir}: an episode with total_steps < 1: the metadata is corrupted")
    agent_axis = (n,) if layout.multi else ()
    count = len(episodes)
    out = {
        "observations": np.zeros((count, steps + 1, *agent_axis, *layout.obs_shape), layout.obs_dtype),
        "actions": np.zeros((count, steps, *agent_axis, *layout.action_shape), layout.action_dtype),
        "rewards": np.zeros((count, steps, *agent_axis), REWARD_DTYPE),
        "terminations": np.zeros((count, steps, *agent_axis), FLAG_DTYPE),
        "truncations": np.zeros((count, steps, *agent_axis), FLAG_DTYPE),
    }
    acting = np.zeros((count, steps, n), FLAG_DTYPE) if layout.multi else None
    types = (None if layout.type_fields is None
             else np.zeros((count, *agent_axis, len(layout.type_fields)), layout.types_dtype))
    metrics = {name: np.zeros((count, *shape), dtype) for name, (dtype, shape) in layout.metrics.items()}
    for row, (e, ms) in enumerate(zip(episodes, ids, strict=True)):
        for agent, m in enumerate(ms):
            episode = _read_episode(dataset.data_dir, m, layout)
            file = dataset.data_dir / str(m) / EPISODE_FILE
            if episode["episode"] != (e, agent):
                got_episode, got_agent = episode["episode"]
                raise ValueError(f"{file}: holds recorded episode {got_episode} agent {got_agent}, "
                                 f"expected episode {e} agent {agent}: the dataset is corrupted")
            length = episode["rewards"].shape[0]
            if length != lengths[row]:
                raise ValueError(f"{file}: {length} steps, expected {lengths[row]} (agent 0's): "
                                 f"the dataset is corrupted")
            at = (row, slice(None), agent) if layout.multi else (row, slice(None))
            valid = (row, slice(0, length), agent) if layout.multi else (row, slice(0, length))
            obs_valid = (row, slice(0, length + 1), agent) if layout.multi else (row, slice(0, length + 1))
            out["observations"][obs_valid] = episode["observations"]
            out["observations"][at][length + 1:] = episode["observations"][-1]  # padding: the final observation
            for name in ("actions", "rewards", "terminations", "truncations"):
                out[name][valid] = episode[name]
            if acting is not None:
                acting[row, :length, agent] = episode["acting"]
            if types is not None:
                types[(row, agent) if layout.multi else row] = episode["types"]
            if agent == 0:
                for name, (dtype, shape) in layout.metrics.items():
                    try:
                        value = np.asarray(episode["metrics"][name], dtype)
                    except (KeyError, TypeError, ValueError) as error:
                        raise ValueError(f"{file.parent / METADATA_FILE}: metric {name!r} missing or malformed "
                                         f"({error!r})") from None
                    _expect(f"{file.parent / METADATA_FILE}: metric {name!r}", value.shape, shape, "shape")
                    metrics[name][row] = value
    wrap = (lambda a: {layout.family: a}) if layout.multi else (lambda a: a)  # noqa: E731
    return Trajectories(
        observations=wrap(out["observations"]), actions=wrap(out["actions"]), rewards=wrap(out["rewards"]),
        terminations=wrap(out["terminations"]), truncations=wrap(out["truncations"]), lengths=lengths,
        acting=None if acting is None else wrap(acting), types=None if types is None else wrap(types), metrics=metrics)


def from_minari(
    dataset_id: str,
    *,
    data_path: str | os.PathLike | None = None,
    episodes: Sequence[int] | None = None,
) -> Trajectories:
    """Read a dataset written by ``to_minari`` back into ``Trajectories`` (numpy arrays).

    Args:
      dataset_id: the dataset's id.
      data_path: the datasets root; defaults to ``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``.
      episodes: the recorded episodes to read (indices ``e`` as written, in the order given); all by
        default.

    Returns:
      ``Trajectories`` with the dtypes written, padded to the longest episode read (``T`` its
      steps): steps ``t >= lengths[e]`` repeat the final observation and are zero elsewhere
      (actions, rewards; terminations, truncations and ``acting`` False). For a multi-agent dataset
      every field but ``lengths`` and ``metrics`` is a dict holding the stored family, with the
      agent axis restored (``types`` ``(E, n_f, k_f)``, ``acting`` ``(E, T, n_f)``). Where the
      recording's episodes all had ``T`` steps, every array equals the recording's bit for bit.

    Memory: the returned arrays and one episode file at a time.

    Raises:
      ValueError: a malformed or unknown ``dataset_id`` (naming the directory looked in and the
        datasets there); a dataset not written by ``to_minari``; ``episodes`` out of range; a
        missing, truncated or corrupted file (naming it and what is wrong: its size, its SHA-256,
        its schema, its rows), before anything is returned.
    """
    dataset = _open(dataset_id, data_path)
    return _assemble(dataset, _check_episodes(episodes, dataset.num_episodes))


def iterate_minari(
    dataset_id: str,
    episodes_per_chunk: int = DEFAULT_EPISODES_PER_CHUNK,
    *,
    data_path: str | os.PathLike | None = None,
) -> Iterator[Trajectories]:
    """Stream a dataset written by ``to_minari`` as ``Trajectories`` chunks of recorded episodes.

    Args:
      dataset_id: the dataset's id.
      episodes_per_chunk: recorded episodes per chunk (the last chunk holds the rest).
      data_path: the datasets root (as ``from_minari``).

    Yields:
      ``Trajectories`` of episodes ``[k * episodes_per_chunk, (k + 1) * episodes_per_chunk)`` in
      order, each as ``from_minari`` returns them (padded to the chunk's longest episode).

    Memory: one chunk (``episodes_per_chunk × n_agents × (T + 1) ×`` bytes per step) and one
    episode file at a time.

    Raises:
      ValueError: as ``from_minari`` (the id is checked at the first ``next``); a damaged file raises
        when the chunk holding it is read, before that chunk is yielded: the chunks already yielded
        were complete and checked, and no partial chunk is ever yielded.
    """
    if isinstance(episodes_per_chunk, bool) or not isinstance(episodes_per_chunk, int | np.integer) \
            or episodes_per_chunk < 1:
        raise ValueError(f"episodes_per_chunk = {episodes_per_chunk!r}: expected an integer >= 1")
    return _iterate(dataset_id, int(episodes_per_chunk), data_path)


def _iterate(dataset_id: str, episodes_per_chunk: int, data_path: str | os.PathLike | None) -> Iterator[Trajectories]:
    dataset = _open(dataset_id, data_path)
    for start in range(0, dataset.num_episodes, episodes_per_chunk):
        yield _assemble(dataset, range(start, min(start + episodes_per_chunk, dataset.num_episodes)))


def _fingerprint(dataset: _Dataset) -> str:
    """SHA-256 over the SHA-256s of the Minari episodes (each episode's ``metadata.json``), in order."""
    digest = hashlib.sha256()
    for m in range(dataset.num_episodes * dataset.layout.num_agents):
        path = dataset.data_dir / str(m) / METADATA_FILE
        try:
            sha = _read_json(path)[METADATA_KEY]["sha256"]
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: no {METADATA_KEY}.sha256 ({error!r}); not written by jaxmarket.data.to_minari, "
                             f"or corrupted") from None
        if not isinstance(sha, str):
            raise ValueError(f"{path}: {METADATA_KEY}.sha256 = {sha!r} is not a hex digest: the file is corrupted")
        digest.update(f"{m}:{sha}\n".encode())
    return digest.hexdigest()


def dataset_info(dataset_id: str, data_path: str | os.PathLike | None = None) -> dict:
    """What a dataset written by ``to_minari`` holds, from its metadata (the dataset's ``metadata.json``
    and, for the fingerprint, each episode's; no episode's Arrow file is read).

    Args:
      dataset_id: the dataset's id.
      data_path: the datasets root (as ``from_minari``).

    Returns:
      A JSON-serialisable dict: ``dataset_id``, ``path`` (the ``data`` directory), ``env_id``,
      ``env_kwargs``, ``family``, ``num_agents``, ``episodes`` (recorded), ``minari_episodes``, ``steps`` (over the
      Minari episodes), ``observation_space`` and ``action_space`` (gymnasium's repr),
      ``algorithm_name``, ``seed``, ``recording_seeds`` (``[first, end)``, the seeds the recording
      used; None where not stored: unknown), ``ref_min_score``, ``ref_max_score`` (None where not
      stored), ``author``, ``description``, ``type_fields``, ``metrics`` (names), ``size_mb``
      (Minari's ``dataset_size``, 10^6 bytes), ``minari_version`` and ``fingerprint`` (the SHA-256,
      in hex, over the per-episode SHA-256s in episode order: equal fingerprints mean the same
      episodes, byte for byte, as far as the files match their recorded SHA-256s, which
      ``from_minari`` checks).

    Raises:
      ValueError: as ``from_minari`` for the id and the dataset's ``metadata.json``; a missing or
        malformed episode ``metadata.json`` (naming it).
    """
    from minari.serialization import deserialize_space

    dataset = _open(dataset_id, data_path)
    meta, ours = dataset.metadata, dataset.metadata[METADATA_KEY]
    path = dataset.data_dir / METADATA_FILE
    try:
        spaces = {name: repr(deserialize_space(meta[name])) for name in ("observation_space", "action_space")}
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the spaces are missing or malformed ({error!r})") from None
    author = meta.get("author")
    return {
        "dataset_id": meta.get("dataset_id"),
        "path": str(dataset.data_dir),
        "env_id": ours.get("env_id"),
        "env_kwargs": ours.get("env_kwargs"),
        "family": dataset.layout.family,
        "num_agents": dataset.layout.num_agents,
        "episodes": dataset.num_episodes,
        "minari_episodes": int(meta["total_episodes"]),
        "steps": int(meta.get("total_steps", 0)),
        **spaces,
        "algorithm_name": meta.get("algorithm_name"),
        "seed": ours.get("seed"),
        "recording_seeds": _check_recording_seeds(ours.get("recording_seeds"),
                                                  f"{path}: {METADATA_KEY}.recording_seeds"),
        "ref_min_score": meta.get("ref_min_score"),
        "ref_max_score": meta.get("ref_max_score"),
        "author": sorted(author) if isinstance(author, list) else author,
        "description": meta.get("description"),
        "type_fields": None if dataset.layout.type_fields is None else list(dataset.layout.type_fields),
        "metrics": sorted(dataset.layout.metrics),
        "size_mb": meta.get("dataset_size"),
        "minari_version": meta.get("minari_version"),
        "fingerprint": _fingerprint(dataset),
    }
