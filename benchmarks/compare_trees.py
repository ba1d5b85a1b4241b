"""A/B timing of two source trees: did a change make anything slower?

    python benchmarks/compare_trees.py A B [--pairs 5] [--invocation "lob_throughput --batches 1024 ..." ...]
                                           [--timeout 600] [--out DIR]

``A`` and ``B`` are two checkouts of the project (e.g. the commit before a change and the working
tree after it). Each invocation names a script of ``benchmarks/`` without its ``.py`` and its
arguments; it runs as ``python -m benchmarks.<script> <arguments>`` in a process whose working
directory and ``PYTHONPATH`` are the tree, so each tree runs its own copy of the script on its own
code. The runs alternate, A then B, ``--pairs`` times, for every invocation in turn (pair 1 of
every invocation, then pair 2, ...), so that a machine that slows down or speeds up during the
session weighs on both trees alike.

Each run's JSON lines are split into figures (``benchmarks/figures.py``), which are matched across
the two trees by invocation, configuration, batch size and name. For each figure the ratio B/A is
taken within each pair, and the report gives the median of these ratios and their min and max:
for a rate (``better`` = ``higher``) a median below 1 means B is slower; for a wall time
(``lower``) above 1. A figure that only one tree prints is listed with no ratio. The report is
printed as one JSON line per figure, then a markdown table; with ``--out`` both are also written
there (``compare.jsonl``, ``compare.md``), with every run's raw lines (``runs.jsonl``).

Measure on a quiet machine, in one sitting: the ratios are only as steady as the machine. Use only
options that both trees' scripts accept: an older tree's scripts lack options added since, and
the default invocations (:data:`DEFAULT_INVOCATIONS`, small CPU sizes of a few seconds to half a
minute per run, compiling included) use only options that every script has had since the
benchmarks were written. Before the runs, each tree is checked to import its own ``benchmarks``,
``jaxmarket`` and ``training`` packages (not, e.g., an installed copy of the other tree).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make this tree's benchmarks package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.figures import Figure, format_number, markdown_cell, parse_lines, split_row  # noqa: E402

DEFAULT_PAIRS = 5  # A B runs per invocation
DEFAULT_TIMEOUT_S = 600  # seconds one run may take
# small CPU sizes: the order book, the market-making env (with CartPole), the ABIDES-Gym envs with
# the background market's whole days, the OTC market at both sizes, PPO (with its loop and
# CartPole) and multi-agent PPO; each run a few seconds to half a minute, compiling included
DEFAULT_INVOCATIONS = (
    "lob_throughput --batches 1024 --capacities --messages 200000 --no-cartpole",
    "env_throughput --batches 4096 --steps 1000",
    "market_throughput --batches 4 --steps 5 --days",
    "otc_throughput --batches 1024 --steps 50 --sizes 4x16 10x100 --modes vec --no-cartpole",
    "ppo_throughput --num-envs 128 --total-timesteps 524288",
    "mappo_throughput --markets 4/16 --num-envs 64 --num-rounds 16 --updates 4",
)
PACKAGES = ("benchmarks", "jaxmarket", "training")  # each tree must import its own copy of these
TREES = ("A", "B")


@dataclass(frozen=True)
class Run:
    """One benchmark process in one tree.

    Attributes:
        tree: ``"A"`` or ``"B"``.
        pair: the pair's index, from 0.
        invocation: the invocation's index in the list.
        status: ``"ok"``, ``"failed (exit N)"`` or ``"timed out after N s"``.
        wall_s: seconds the process ran.
        figures: its figures.
    """

    tree: str
    pair: int
    invocation: int
    status: str
    wall_s: float
    figures: list[Figure]


def command(invocation: str) -> list[str]:
    """The argument list of ``python -m benchmarks.<script> <arguments>`` for an invocation.

    Args:
        invocation: a script name of ``benchmarks/`` (with or without ``.py`` or the
            ``benchmarks.`` prefix) followed by its arguments, shell-quoted.

    Returns:
        The command, starting with this process's Python.

    Raises:
        ValueError: if the invocation is empty.
    """
    words = shlex.split(invocation)
    if not words:
        raise ValueError("invocation = '': it must name a benchmark script, e.g. 'lob_throughput --batches 1024'")
    script = words[0].removeprefix("benchmarks/").removeprefix("benchmarks.").removesuffix(".py")
    return [sys.executable, "-m", f"benchmarks.{script}", *words[1:]]


def tree_env(tree: Path) -> dict[str, str]:
    """The environment of a run in ``tree``: this one's, with ``PYTHONPATH`` set to the tree.

    Args:
        tree: a checkout's root.

    Returns:
        The environment mapping.
    """
    return {**os.environ, "PYTHONPATH": str(tree)}


def check_tree(tree: Path) -> None:
    """Check that a process run in ``tree`` imports the tree's own packages.

    Args:
        tree: a checkout's root.

    Raises:
        ValueError: if ``tree`` has no ``benchmarks`` folder, or a package of :data:`PACKAGES` is
            imported from outside it (e.g. an installed copy of another tree).
    """
    if not (tree / "benchmarks").is_dir():
        raise ValueError(f"tree = {tree}: it has no benchmarks/ folder; pass a checkout's root")
    code = "import importlib, json; print(json.dumps({n: importlib.import_module(n).__path__[0] for n in %r}))"
    done = subprocess.run([sys.executable, "-c", code % (PACKAGES,)], cwd=tree, env=tree_env(tree),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValueError(f"tree = {tree}: importing {PACKAGES} failed:\n{done.stderr[-2000:]}")
    paths = json.loads(done.stdout.strip().splitlines()[-1])
    outside = {n: p for n, p in paths.items() if not Path(p).resolve().is_relative_to(tree.resolve())}
    if outside:
        raise ValueError(f"tree = {tree}: these packages are imported from outside it: {outside}")


def run_once(tree_name: str, tree: Path, pair: int, index: int, invocation: str, timeout_s: float) -> tuple[Run, list]:
    """Run one invocation in one tree.

    Args:
        tree_name: ``"A"`` or ``"B"``.
        tree: the tree's root (the working directory and ``PYTHONPATH``).
        pair: the pair's index.
        index: the invocation's index.
        invocation: the invocation (see :func:`command`).
        timeout_s: seconds after which the run is killed.

    Returns:
        The :class:`Run` and the raw JSON lines it printed.
    """
    start = time.perf_counter()
    try:
        done = subprocess.run(command(invocation), cwd=tree, env=tree_env(tree), capture_output=True, text=True,
                              timeout=timeout_s, check=False)
        stdout, stderr = done.stdout, done.stderr
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
    except subprocess.TimeoutExpired as expired:
        stdout, stderr = _text(expired.stdout), _text(expired.stderr)
        status = f"timed out after {timeout_s:g} s"
    wall = time.perf_counter() - start
    rows, _ = parse_lines(stdout)
    if status != "ok":
        print(f"  {tree_name} {invocation}: {status}\n{stderr[-2000:]}", file=sys.stderr, flush=True)
    figures = [f for row in rows for f in split_row(row)]
    return Run(tree=tree_name, pair=pair, invocation=index, status=status, wall_s=wall, figures=figures), rows


def _text(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output


def compare(runs: list[Run], invocations: Sequence[str]) -> list[dict]:
    """Per figure, the ratios B/A within each pair where both trees printed it.

    Args:
        runs: every run of the session.
        invocations: the invocations, indexed by :attr:`Run.invocation`.

    Returns:
        One dict per figure, in the order first seen: ``invocation``, ``what``,
        ``configuration``, ``batch_size``, ``figure``, ``unit``, ``better``, ``pairs`` (how many
        pairs had it in both trees), ``median_a`` and ``median_b`` (the values' medians, ``None``
        if that tree never printed it), ``median_ratio``, ``min_ratio`` and ``max_ratio`` (of B/A;
        ``None`` without a pair, or where an A value is 0).
    """
    values: dict[tuple, dict[str, dict[int, float]]] = {}
    first: dict[tuple, Figure] = {}
    for run in runs:
        for f in run.figures:
            key = (run.invocation, *f.key())
            first.setdefault(key, f)
            values.setdefault(key, {"A": {}, "B": {}})[run.tree][run.pair] = f.value
    rows = []
    for key, by_tree in values.items():
        f = first[key]
        a, b = by_tree["A"], by_tree["B"]
        ratios = [b[p] / a[p] for p in sorted(a.keys() & b.keys()) if a[p] != 0]
        rows.append({
            "invocation": invocations[key[0]], "what": f.what, "configuration": f.configuration,
            "batch_size": f.batch_size, "figure": f.figure, "unit": f.unit, "better": f.better,
            "pairs": len(ratios),
            "median_a": statistics.median(a.values()) if a else None,
            "median_b": statistics.median(b.values()) if b else None,
            "median_ratio": round(statistics.median(ratios), 4) if ratios else None,
            "min_ratio": round(min(ratios), 4) if ratios else None,
            "max_ratio": round(max(ratios), 4) if ratios else None,
        })
    return rows


def markdown(rows: list[dict], trees: Sequence[Path], pairs: int) -> str:
    """The comparison as a markdown table.

    Args:
        rows: :func:`compare`'s output.
        trees: the two trees, A then B (named above the table).
        pairs: the pairs asked for.

    Returns:
        The markdown text.
    """
    lines = [f"A = `{trees[0]}`, B = `{trees[1]}`, {pairs} pairs per invocation, ratio = B / A within a pair.", "",
             "| script | configuration | batch size | figure | unit | better | A (median) | B (median) "
             "| B/A median | B/A min | B/A max | pairs |",
             "|---|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        script = shlex.split(r["invocation"])[0]
        cells = [script, r["configuration"], "" if r["batch_size"] is None else f"{r['batch_size']:,}", r["figure"],
                 r["unit"], r["better"], *(_number(r[k]) for k in ("median_a", "median_b")),
                 *("" if r[k] is None else f"{r[k]:.3f}" for k in ("median_ratio", "min_ratio", "max_ratio")),
                 str(r["pairs"])]
        lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "" if value is None else format_number(value)


def session(trees: Sequence[Path], invocations: Sequence[str], pairs: int, timeout_s: float,
            raw_out: Path | None = None) -> list[Run]:
    """Run every invocation ``pairs`` times in A then B, pair by pair.

    Args:
        trees: the roots of A and B.
        invocations: what to run (see :func:`command`).
        pairs: how many A B pairs per invocation.
        timeout_s: seconds one run may take.
        raw_out: if given, a file that receives every run's JSON lines, each with ``tree``,
            ``pair`` and ``invocation`` added.

    Returns:
        Every :class:`Run`, in run order.
    """
    runs = []
    raw = open(raw_out, "w") if raw_out is not None else None  # noqa: SIM115 - closed below
    try:
        for pair in range(pairs):
            for index, invocation in enumerate(invocations):
                for name, tree in zip(TREES, trees, strict=True):
                    run, lines = run_once(name, tree, pair, index, invocation, timeout_s)
                    runs.append(run)
                    print(f"pair {pair + 1}/{pairs} {name} {invocation}: {run.status}, {run.wall_s:.1f} s, "
                          f"{len(run.figures)} figures", file=sys.stderr, flush=True)
                    if raw is not None:
                        raw.writelines(json.dumps({"tree": name, "pair": pair, "invocation": invocation, **line}) + "\n"
                                       for line in lines)
                        raw.flush()
    finally:
        if raw is not None:
            raw.close()
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the session, print the comparison.

    Args:
        argv: the arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        0 if every run ended normally, 1 otherwise (the comparison is printed either way).
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="tree A: the root of a checkout (the reference)")
    parser.add_argument("b", type=Path, help="tree B: the root of a checkout (the change)")
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help=f"A B runs per invocation ({DEFAULT_PAIRS})")
    parser.add_argument("--invocation", action="append", metavar="'SCRIPT ARGS'",
                        help="a benchmark script and its arguments, e.g. 'lob_throughput --batches 1024 "
                             "--capacities --no-cartpole'; repeat for several (default: the built-in list)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds one run may take")
    parser.add_argument("--out", type=Path, help="also write compare.jsonl, compare.md and runs.jsonl here")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error(f"--pairs = {args.pairs}: at least 1")
    invocations = args.invocation or list(DEFAULT_INVOCATIONS)
    trees = [args.a.resolve(), args.b.resolve()]
    try:
        for invocation in invocations:
            command(invocation)
        for tree in trees:
            check_tree(tree)
    except ValueError as error:
        parser.error(str(error))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    runs = session(trees, invocations, args.pairs, args.timeout, None if args.out is None else args.out / "runs.jsonl")
    rows = compare(runs, invocations)
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    table = markdown(rows, trees, args.pairs)
    print(lines + "\n" + table, end="", flush=True)
    if args.out is not None:
        (args.out / "compare.jsonl").write_text(lines)
        (args.out / "compare.md").write_text(table)
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
