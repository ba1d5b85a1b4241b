"""Every throughput benchmark at GPU sizes, one process each, into one JSON-lines file and one
markdown table. ``benchmarks/gpu_suite.sh`` is the command; this is its driver.

    benchmarks/gpu_suite.sh [--smoke] [--out runs/gpu_suite] [--only lob env ...]
    python -m benchmarks.suite [--smoke] [--out runs/gpu_suite] [--only lob env ...]

The suite runs, in this order: the order book (``lob``), the market-making env beside CartPole
(``env``), the gymnasium adapters beside the JAX env and gymnasium's CartPole (``interop``), the
background market and the ABIDES-Gym envs (``market``), the OTC market at 4 LPs / 16 clients
(``otc``) and at 10 LPs / 100 clients (``otc_10x100``), PPO training (``ppo``), multi-agent PPO
training (``mappo``), the calibration loop beside plain training (``calibration``), the env
axis split across devices with the cost of resumable checkpoints (``sharding``), recording and
Minari dataset writing and reading (``dataset``) and the offline learners' gradient steps
(``offline``). Each is
``python -m benchmarks.<name>_throughput`` with the arguments in :data:`SUITE`, in its own process,
one after the other, each with its own time budget: a crash, an out-of-memory error or a budget
overrun ends that benchmark only, the lines it printed before are kept, and the rest still run. At
GPU sizes the budgets add up to :data:`GPU_BUDGET_S` (8 minutes), so the suite ends in time
whatever the device does; within a benchmark the sizes go from small to large, so an overrun loses
the largest ones.

``--smoke`` runs the same benchmarks at tiny sizes on any device, to check the suite end to end;
its figures measure nothing. It compiles without most optimizations
(``JAX_DISABLE_MOST_OPTIMIZATIONS=1``), runs :data:`SMOKE_JOBS` benchmarks at a time (compiling
dominates and is mostly one core's work), and gives each :data:`SMOKE_BUDGET_S` seconds, a guard
against a hang rather than a target. It is meant to take under a minute on an idle 2-core CPU: it
used 70 s of CPU time there, two processes at a time.

Outputs, in ``--out``:

- ``results.jsonl``: one JSON line per figure, with ``benchmark``, ``what``, ``configuration``,
  ``batch_size``, ``figure``, ``value``, ``unit``, ``better`` (``higher``, ``lower`` or
  ``neither``), ``device`` and ``date`` (see ``benchmarks/figures.py``).
- ``results.md``: the same as a table (benchmark, configuration, batch size, figure, unit,
  device, date), then one row per benchmark with its command, status and wall time.
- ``<benchmark>.log``: each process's standard output and error.

The exit status is 0 when every benchmark ended normally, 1 otherwise (the outputs are written
either way). The suite installs nothing: the project and its dependencies (JAX with CUDA, gymnax,
distrax) must already be importable by the Python that runs it; see ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.figures import Figure, format_number, markdown_cell, parse_lines, split_row

ROOT = Path(__file__).resolve().parents[1]  # the repository: each benchmark runs with it as cwd
DEFAULT_OUT = ROOT / "runs" / "gpu_suite"  # runs/ is ignored by git
LOG_TAIL_LINES = 15  # lines of a failed benchmark's log shown on the console
SMOKE_JOBS = 2  # smoke benchmarks run two at a time: compiling is mostly one core's work


@dataclass(frozen=True)
class Benchmark:
    """One process of the suite.

    Attributes:
        name: the suite's name for it (``--only`` selects by it; names the log file).
        module: the script, run as ``python -m <module>``.
        gpu_args: its arguments at GPU sizes.
        smoke_args: its arguments with ``--smoke``, or ``None`` to skip it there.
        budget_s: seconds it may run at GPU sizes, compiling and process start included.
    """

    name: str
    module: str
    gpu_args: tuple[str, ...]
    smoke_args: tuple[str, ...] | None
    budget_s: float


# GPU sizes: what benchmarks/RESULTS.md names for the GPU targets, cut to fit the budgets (see its
# "GPU suite" section for the reasoning; no GPU run has measured them yet). Smoke sizes: the
# smallest each script accepts, as few compiles as cover each script (the market times one of its
# two envs; otc times both market sizes, so otc_10x100 is skipped; sharding's --smoke is its own
# tiny preset, on 1 and 2 forced CPU devices; interop's --smoke is its own: MarketMaking-AS-v0 at 1
# and 4 envs). The sharding benchmark's 50 s came out of ppo's and mappo's budgets (100 s each
# before), and the interop benchmark's 30 s out of lob's, env's and otc's (70, 40 and 55 s before),
# so the total stays at 480 s. The recording/dataset and offline-learner benchmarks' 30 s each came out
# of lob 60 -> 50, env and interop 30 -> 25, market 70 -> 60, otc 45 -> 40, otc_10x100 30 -> 25, ppo and
# mappo 75 -> 70 and sharding 50 -> 40 (no GPU run has measured any of these budgets yet).
SUITE: tuple[Benchmark, ...] = (
    Benchmark("lob", "benchmarks.lob_throughput",
              ("--batches", "65536", "262144", "--capacities", "64", "256", "--capacity-books", "65536",
               "--messages", "50000000"),
              ("--batches", "4", "--capacities", "--messages", "80", "--no-cartpole"),
              budget_s=50),
    Benchmark("env", "benchmarks.env_throughput",
              ("--batches", "4096", "65536", "262144", "--steps", "1000"),
              ("--batches", "4", "--steps", "10", "--no-cartpole"),
              budget_s=25),
    Benchmark("interop", "benchmarks.interop_throughput",
              ("--batches", "1", "64", "4096", "65536", "--envs", "MarketMaking-AS-v0", "--steps", "500",
               "--max-env-steps", "4000000"),
              ("--smoke",),
              budget_s=25),
    Benchmark("market", "benchmarks.market_throughput",
              ("--batches", "4096", "32768", "--steps", "10", "--days"),
              ("--batches", "2", "--steps", "2", "--envs", "Execution-v0"),
              budget_s=60),
    Benchmark("otc", "benchmarks.otc_throughput",
              ("--batches", "65536", "262144", "1048576", "--sizes", "4x16", "--modes", "vec"),
              ("--batches", "2", "--steps", "4", "--sizes", "4x16", "10x100", "--modes", "vec", "--no-cartpole"),
              budget_s=40),
    Benchmark("otc_10x100", "benchmarks.otc_throughput",
              ("--batches", "65536", "--sizes", "10x100", "--modes", "vec", "--no-cartpole"),
              None,
              budget_s=25),
    Benchmark("ppo", "benchmarks.ppo_throughput",
              ("--num-envs", "65536", "--total-timesteps", "100000000"),
              ("--num-envs", "4", "--total-timesteps", "256", "--repeats", "1", "--no-loop", "--no-cartpole"),
              budget_s=70),
    Benchmark("mappo", "benchmarks.mappo_throughput",
              ("--markets", "4/16", "--num-envs", "16384", "65536"),
              ("--markets", "4/16", "--num-envs", "4", "--num-rounds", "4", "--updates", "1", "--repeats", "1"),
              budget_s=70),
    Benchmark("calibration", "benchmarks.calibration_throughput",
              ("--num-envs", "4096", "--iterations", "2", "--repeats", "1"),
              ("--num-envs", "16", "--iterations", "1", "--repeats", "1"),
              budget_s=15),
    Benchmark("sharding", "benchmarks.sharding_throughput",
              ("--workloads", "mm_vec", "ppo", "--vec-envs", "65536", "--ppo-envs", "16384", "--checkpoint-chunks", "4",
               "--checkpoint-repeats", "2", "--long-pairs", "0"),
              ("--smoke",),
              budget_s=40),
    Benchmark("dataset", "benchmarks.dataset_throughput",
              ("--episodes", "10000", "--repeats", "2"),
              ("--smoke",),
              budget_s=30),
    Benchmark("offline", "benchmarks.offline_throughput",
              ("--num-updates", "10000", "--repeats", "1"),
              ("--num-updates", "20", "--dataset-size", "1000", "--repeats", "1"),
              budget_s=30),
)
GPU_BUDGET_S = sum(b.budget_s for b in SUITE)  # 480 s: 8 minutes on one GPU
SMOKE_BUDGET_S = 120  # seconds each smoke benchmark may run: a guard against a hang on a busy machine


@dataclass(frozen=True)
class Outcome:
    """How one benchmark process ended.

    Attributes:
        benchmark: its :class:`Benchmark`.
        command: the command line, as text.
        status: ``"ok"``, ``"failed (exit N)"`` or ``"timed out after N s"``.
        wall_s: seconds from start to end.
        rows: the JSON lines it printed, parsed.
    """

    benchmark: Benchmark
    command: str
    status: str
    wall_s: float
    rows: list[dict]


def run_benchmark(benchmark: Benchmark, args: Sequence[str], budget_s: float, log_path: Path,
                  env: dict[str, str]) -> Outcome:
    """Run one benchmark in its own process, echoing its JSON lines, killing it past its budget.

    Args:
        benchmark: what to run.
        args: its command-line arguments.
        budget_s: seconds after which the process is killed.
        log_path: file that receives the process's standard output and error.
        env: the process's environment.

    Returns:
        The :class:`Outcome`; the rows printed before a crash or a kill are kept.
    """
    command = [sys.executable, "-m", benchmark.module, *args]
    text = " ".join(["python", "-m", benchmark.module, *args])
    killed = threading.Event()
    start = time.perf_counter()
    lines: list[str] = []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(budget_s, kill)
        timer.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                log.write(line)
                log.flush()
                if line.lstrip().startswith("{"):
                    print(f"  {line.rstrip()}", flush=True)
            code = proc.wait()
        finally:
            timer.cancel()
    wall = time.perf_counter() - start
    status = f"timed out after {budget_s:g} s" if killed.is_set() else "ok" if code == 0 else f"failed (exit {code})"
    rows, _ = parse_lines("".join(lines))
    return Outcome(benchmark=benchmark, command=text, status=status, wall_s=wall, rows=rows)


def figure_records(outcome: Outcome) -> list[dict]:
    """One record per figure of a benchmark's lines, with the suite's benchmark name first.

    Args:
        outcome: a finished benchmark.

    Returns:
        Dicts with ``benchmark`` and the fields of :class:`benchmarks.figures.Figure`.
    """
    figures: list[Figure] = [f for row in outcome.rows for f in split_row(row)]
    return [{"benchmark": outcome.benchmark.name, **asdict(f)} for f in figures]


def results_table(records: list[dict], outcomes: list[Outcome], smoke: bool) -> str:
    """The markdown of ``results.md``: the figures, then one row per benchmark process.

    Args:
        records: the figure records, as :func:`figure_records` makes them.
        outcomes: every benchmark's :class:`Outcome`, in run order.
        smoke: whether the sizes were the smoke sizes (said in the title).

    Returns:
        The markdown text.
    """
    title = "Benchmark suite, smoke sizes (these figures measure nothing)" if smoke else "Benchmark suite, GPU sizes"
    lines = [f"# {title}", "", "| benchmark | configuration | batch size | figure | value | unit | device | date |",
             "|---|---|---:|---|---:|---|---|---|"]
    for r in records:
        batch = "" if r["batch_size"] is None else f"{r['batch_size']:,}"
        cells = [r["benchmark"], r["configuration"], batch, r["figure"], format_number(r["value"]), r["unit"],
                 r["device"], r["date"]]
        lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    lines += ["", "| benchmark | command | status | wall (s) | lines |", "|---|---|---|---:|---:|"]
    for o in outcomes:
        cells = [o.benchmark.name, f"`{o.command}`", o.status, f"{o.wall_s:.1f}", str(len(o.rows))]
        lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def child_env() -> dict[str, str]:
    """The benchmarks' environment.

    Returns:
        This process's environment with the repository first on ``PYTHONPATH``; any existing
        entries (e.g. a folder of extra wheels) are kept after it.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def select(names: Sequence[str] | None) -> list[Benchmark]:
    """The suite's benchmarks named in ``names`` (all of them for ``None``), in suite order.

    Args:
        names: names from :data:`SUITE`, or ``None``.

    Returns:
        The selected benchmarks.

    Raises:
        ValueError: if a name is not in the suite.
    """
    known = [b.name for b in SUITE]
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise ValueError(f"--only: unknown benchmark(s) {unknown}; valid names are {known}")
    return [b for b in SUITE if names is None or b.name in names]


def smoke_suite(benchmarks: list[Benchmark]) -> list[Benchmark]:
    """Those of ``benchmarks`` that have smoke arguments.

    Args:
        benchmarks: a selection of :data:`SUITE`.

    Returns:
        The benchmarks whose ``smoke_args`` is not ``None``, in the same order.
    """
    return [b for b in benchmarks if b.smoke_args is not None]


def run_suite(benchmarks: list[Benchmark], out: Path, smoke: bool, jobs: int = 1) -> list[Outcome]:
    """Run ``benchmarks`` and write ``results.jsonl`` and ``results.md`` after each one ends.

    Args:
        benchmarks: what to run.
        out: the output folder (created if needed).
        smoke: run the smoke sizes and budgets, compiling without most optimizations
            (``JAX_DISABLE_MOST_OPTIMIZATIONS=1`` unless the environment sets it).
        jobs: how many benchmarks run at once; 1 for figures that mean anything, since parallel
            processes share the device.

    Returns:
        Every benchmark's :class:`Outcome`, in the order of ``benchmarks``.

    Raises:
        ValueError: if ``jobs`` is below 1.
    """
    if jobs < 1:
        raise ValueError(f"jobs = {jobs}: at least 1 benchmark must run at a time")
    out.mkdir(parents=True, exist_ok=True)
    env = child_env()
    if smoke:
        env.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")  # compiles in about half the time
    outcomes: dict[str, Outcome] = {}
    lock = threading.Lock()

    def run(b: Benchmark) -> None:
        args, budget = (b.smoke_args, SMOKE_BUDGET_S) if smoke else (b.gpu_args, b.budget_s)
        print(f"[{b.name}] python -m {b.module} {' '.join(args)}  (budget {budget:g} s)", flush=True)
        outcome = run_benchmark(b, args, budget, out / f"{b.name}.log", env)
        print(f"[{b.name}] {outcome.status}, {outcome.wall_s:.1f} s, {len(outcome.rows)} lines", flush=True)
        if outcome.status != "ok":
            tail = (out / f"{b.name}.log").read_text().splitlines()[-LOG_TAIL_LINES:]
            print("\n".join(f"  {b.name} | {line}" for line in tail), file=sys.stderr, flush=True)
        with lock:  # written after each benchmark, so a suite that is itself killed keeps what it measured
            outcomes[b.name] = outcome
            write_results(out, [outcomes[x.name] for x in benchmarks if x.name in outcomes], smoke)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(run, b) for b in benchmarks]:
            future.result()
    return [outcomes[b.name] for b in benchmarks]


def write_results(out: Path, outcomes: list[Outcome], smoke: bool) -> None:
    """Write ``results.jsonl`` and ``results.md`` for ``outcomes`` into ``out``.

    Args:
        out: an existing folder.
        outcomes: the finished benchmarks, in suite order.
        smoke: whether the sizes were the smoke sizes.
    """
    records = [r for o in outcomes for r in figure_records(o)]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (out / "results.md").write_text(results_table(records, outcomes, smoke))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the suite, and return the exit status.

    Args:
        argv: the arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        0 if every benchmark ended normally, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on any device: checks the suite runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: runs/gpu_suite in the repository)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these of {[b.name for b in SUITE]}")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"benchmarks run at once (default {SMOKE_JOBS} with --smoke, else 1: parallel runs share "
                             "the device, so use more only to check the suite)")
    args = parser.parse_args(argv)
    jobs = args.jobs if args.jobs is not None else SMOKE_JOBS if args.smoke else 1
    if jobs < 1:
        parser.error(f"--jobs = {jobs}: at least 1")
    try:
        benchmarks = select(args.only)
    except ValueError as error:
        parser.error(str(error))
    if args.smoke:
        benchmarks = smoke_suite(benchmarks)
    total = sum(SMOKE_BUDGET_S if args.smoke else b.budget_s for b in benchmarks)
    print(f"{len(benchmarks)} benchmarks, {jobs} at a time, budgets adding up to {total:g} s; writing to {args.out}",
          flush=True)
    start = time.perf_counter()
    outcomes = run_suite(benchmarks, args.out, args.smoke, jobs)
    failed = [o.benchmark.name for o in outcomes if o.status != "ok"]
    print(f"done in {time.perf_counter() - start:.1f} s: {args.out / 'results.md'}"
          + (f"; not ok: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
