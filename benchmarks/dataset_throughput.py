"""Recording and Minari dataset throughput on OTC-LP-v0: ``jm.record`` transitions/s, and the MB/s of
writing a dataset (``jaxmarket.data.to_minari``) and of reading it back (``from_minari``, and Minari's
own reader, ``minari.MinariDataset(...).iterate_episodes()``).

For each episode count ``E`` the heuristic dealer (``jaxmarket.otc.dealer.heuristic_lp_actions``)
is recorded on OTC-LP-v0 (``--rounds`` rounds per episode, ``E × rounds`` transitions), once untimed
then ``--repeats`` timed calls; the dataset is written ``--repeats`` times (each into a fresh
directory under a temporary root, removed at the end) and read ``--repeats`` times by each reader.
The best of each is reported. One JSON line per episode count (``benchmarks.common.report``):

- ``record_transitions_per_s``: transitions over the call's wall time less the tracing and
  compiling JAX reports inside it (``jax.monitoring``'s ``/jax/core/compile/`` events; ``jm.record``
  keeps its compiled rollout, so only the untimed first call compiles), i.e. the rollout and the copy
  to the host;
- ``record_call_s``: the wall time of one ``jm.record`` call, compiling included;
- ``write_mb_per_s``, ``read_mb_per_s``, ``minari_read_mb_per_s``: the dataset's bytes on disk
  (``dataset_mb``, 10^6 bytes: Arrow files and JSON metadata) over the seconds taken to write it,
  to read it into ``Trajectories``, and to iterate Minari's episodes.

    python -m benchmarks.dataset_throughput [--smoke] [--episodes 1000 10000] [--rounds 96] [--repeats 3]

``--smoke`` records 4 episodes of 4 rounds, one timed round: it checks that every path runs; its
figures measure nothing.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import minari

import jaxmarket as jm
from benchmarks.common import REPEATS, report
from jaxmarket.data import from_minari, to_minari
from jaxmarket.data.datasets import DATASETS_PATH_VARIABLE
from jaxmarket.otc import dealer

ENV_ID = "jaxmarket/OTC-LP-v0"
WHAT = "recording and Minari dataset throughput, OTC-LP-v0 heuristic dealer"
EPISODES = (1_000, 10_000)  # 96k and 960k transitions at the default 96 rounds
ROUNDS = 96  # OTC-LP-v0's default: a day of 15-minute rounds
SMOKE_EPISODES = (4,)
SMOKE_ROUNDS = 4
SEED = 0
COMPILE_EVENTS = "/jax/core/compile/"  # the prefix of JAX's tracing, lowering and compiling durations
MB = 1e6  # bytes per MB, as Minari counts dataset sizes
MIN_SECONDS = 1e-9  # a floor on a timed interval (a call that was all compiling)


class CompileClock:
    """The seconds of tracing, lowering and compiling JAX reports while ``running``."""

    def __init__(self) -> None:
        self.running = False
        self.seconds: dict[str, float] = defaultdict(float)
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **_: Any) -> None:
        if self.running and event.startswith(COMPILE_EVENTS):
            self.seconds[event] += duration

    def time(self, fn: Callable[[], Any]) -> tuple[float, float, Any]:
        """``(wall seconds, compile seconds, result)`` of ``fn()``."""
        self.seconds.clear()
        self.running = True
        start = time.perf_counter()
        try:
            out = jax.block_until_ready(fn())
        finally:
            self.running = False
        return time.perf_counter() - start, sum(self.seconds.values()), out


def heuristic_policy(env: Any) -> jm.Policy:
    """The heuristic dealer of OTC-LP-v0 (its quotes and hedge from its own observation)."""

    def act(key: jax.Array, obs: jax.Array, state: Any, params: Any) -> jax.Array:
        del key, state
        return dealer.heuristic_lp_actions(obs[None], env.config, params)[0]

    return act


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def best(fn: Callable[[], Any], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls (no warm-up: each call does the same work)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def minari_read(data_dir: Path) -> int:
    """Minari's own reader (``minari.MinariDataset`` on the dataset's ``data`` directory, what
    ``minari.load_dataset`` opens) over every episode; returns the steps read."""
    steps = 0
    for episode in minari.MinariDataset(data_dir).iterate_episodes():
        steps += int(episode.rewards.shape[0]) + int(episode.observations.size > 0)
    return steps


def measure(num_episodes: int, rounds: int, repeats: int, root: Path, clock: CompileClock) -> dict:
    """One JSON line: recording, writing and both reads at ``num_episodes`` episodes."""
    env, params = jm.make(ENV_ID, n_rounds=rounds)
    policy = heuristic_policy(env)
    record = lambda: jm.record(env, params, policy, num_episodes, seed=SEED)  # noqa: E731
    clock.time(record)  # untimed: imports and first-use costs
    calls = [clock.time(record) for _ in range(repeats)]
    call_s = min(wall for wall, _, _ in calls)
    run_s = min(max(wall - compile_s, MIN_SECONDS) for wall, compile_s, _ in calls)
    trajectories = calls[-1][2]
    transitions = trajectories.num_transitions
    writes = iter(range(repeats))

    def write() -> None:
        to_minari(trajectories, f"bench/otc-lp-{num_episodes}-{next(writes)}-v0", env, params, data_path=root,
                  algorithm_name="heuristic dealer", seed=SEED)

    write_s = best(write, repeats)
    dataset_id = f"bench/otc-lp-{num_episodes}-0-v0"
    size_mb = directory_bytes(root / dataset_id) / MB
    read_s = best(lambda: from_minari(dataset_id, data_path=root), repeats)
    minari_s = best(lambda: minari_read(root / dataset_id / "data"), repeats)
    for index in range(repeats):
        shutil.rmtree(root / f"bench/otc-lp-{num_episodes}-{index}-v0")
    return report(what=WHAT, env=ENV_ID.removeprefix("jaxmarket/"), num_episodes=num_episodes,
                  steps_per_episode=rounds, transitions=transitions, dataset_mb=round(size_mb, 2),
                  record_transitions_per_s=round(transitions / run_s), record_call_s=round(call_s, 3),
                  write_mb_per_s=round(size_mb / write_s, 2), read_mb_per_s=round(size_mb / read_s, 2),
                  minari_read_mb_per_s=round(size_mb / minari_s, 2))


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with the preset's (``--smoke`` or not) sizes where none is given."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that every path runs")
    parser.add_argument("--episodes", type=int, nargs="+", default=None,
                        help=f"episode counts, small to large (default {' '.join(map(str, EPISODES))})")
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds per episode (default {ROUNDS})")
    parser.add_argument("--repeats", type=int, default=None, help=f"timed runs of each path, the best kept "
                                                                   f"(default {REPEATS})")
    parser.add_argument("--data-path", type=Path, default=None,
                        help=f"where the datasets are written (default: a temporary directory, removed at the end; "
                             f"never ${DATASETS_PATH_VARIABLE})")
    args = parser.parse_args(argv)
    if args.episodes is None:
        args.episodes = list(SMOKE_EPISODES if args.smoke else EPISODES)
    if args.rounds is None:
        args.rounds = SMOKE_ROUNDS if args.smoke else ROUNDS
    if args.repeats is None:
        args.repeats = 1 if args.smoke else REPEATS
    for name, values in (("--episodes", args.episodes), ("--rounds", [args.rounds]), ("--repeats", [args.repeats])):
        if min(values) < 1:
            parser.error(f"{name} = {' '.join(map(str, values))}: at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (0)."""
    args = parse(argv)
    clock = CompileClock()
    with tempfile.TemporaryDirectory(dir=args.data_path) as root:
        rows = [measure(n, args.rounds, args.repeats, Path(root), clock) for n in args.episodes]
    lines = ["", "summary (smoke sizes: these figures measure nothing):" if args.smoke else "summary:"]
    lines += [f"  {r['num_episodes']:,} episodes ({r['transitions']:,} transitions, {r['dataset_mb']} MB): record "
              f"{r['record_transitions_per_s']:,} transitions/s ({r['record_call_s']} s a call, compiling included), "
              f"write {r['write_mb_per_s']} MB/s, read {r['read_mb_per_s']} MB/s (Minari's reader "
              f"{r['minari_read_mb_per_s']} MB/s)" for r in rows]
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
