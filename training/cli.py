"""The ``jaxmarket`` command line.

    jaxmarket demo                                  # train PPO, compare with the optimum, plot
    jaxmarket train market-making --out runs/mm     # train and checkpoint
    jaxmarket train execution --out runs/execution  # PPO on Execution-v0 against TWAP and always-market
    jaxmarket evaluate --checkpoint runs/mm/final   # compare a checkpoint with the analytic policies
    jaxmarket envs                                  # list the registered environments
    jaxmarket replay MESSAGES.csv                   # replay a LOBSTER message file through the book
    jaxmarket day                                   # simulate a trading day, plot it: runs/day/day.png
    jaxmarket day --env execution --policy twap     # ... or one episode of an env (daily-investor, execution)
    jaxmarket otc                                   # one OTC-v0 dealer-market episode: runs/otc/otc_episode.png
    jaxmarket train otc --out runs/otc              # multi-agent PPO: dealers and clients learn at once
    jaxmarket evaluate --checkpoint runs/otc/final --grid lp.gamma=0,1,2   # a sweep over agent types
    jaxmarket experiment skew --checkpoint runs/otc/final                  # one of the OTC experiments
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

import jaxmarket as jm
from jaxmarket import lob
from jaxmarket.core.keys import seed_key
from jaxmarket.core.validation import check_int
from jaxmarket.data import load_lobster
from training.learners import checkpoint, loop
from training.tasks.day import simulate as md
from training.tasks.execution import comparison as ex
from training.tasks.market_making import comparison as mm
from training.tasks.otc import episode as otc
from training.tasks.otc import evaluate as otc_evaluate, train as otc_train
from training.tasks.otc.experiments import EXPERIMENTS
from training.learners.mappo import trained_policy as trained_multi_agent_policy
from training.learners.ppo import make_trainer, trained_policy

DEFAULT_EPISODES = 10_000


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set {pair!r}: expected FIELD=VALUE, e.g. --set sigma=3.0")
        name, value = pair.split("=", 1)
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise SystemExit(f"--set {pair!r}: VALUE must be a number or a Python literal") from None
    return out


def _env_overrides(args: argparse.Namespace) -> dict[str, Any]:
    phi = mm.CRITERION["phi"] if args.phi is None else args.phi
    alpha = mm.CRITERION["alpha"] if args.alpha is None else args.alpha
    return {"phi": phi, "alpha": alpha, **_overrides(args.set)}


def _train_ppo(args: argparse.Namespace, env_id: str, config: Any, overrides: dict[str, Any]) -> tuple[Any, dict, float]:
    """Train PPO on ``env_id`` with ``overrides``; returns (policy, last log row, wall seconds)."""
    env, params = jm.make(env_id, **overrides)
    trainer = make_trainer(config, env, params)
    print(f"training PPO on {env_id} with {overrides}: {config.num_updates * config.batch_size:,} env steps, "
          f"{config.num_envs} envs, on {jax.devices()[0].platform}")
    start = time.perf_counter()
    runner, rows = loop.run(trainer, seed_key(args.seed, "--seed"), metadata={"env_id": env_id, "env_overrides": overrides},
                            out_dir=args.out, checkpoint_every=args.checkpoint_every, progress=not args.no_progress)
    wall = time.perf_counter() - start
    print(f"trained in {wall:.1f} s wall ({rows[-1]['steps_per_s']:,.0f} env steps/s after compiling); "
          f"checkpoint: {Path(args.out) / 'final'}")
    return trained_policy(trainer, runner), rows[-1], wall


def _train(args: argparse.Namespace) -> tuple[Any, Any, dict, float]:
    overrides = _env_overrides(args)
    config = mm.config_with(total_timesteps=args.total_timesteps, num_envs=args.num_envs)
    policy, last, wall = _train_ppo(args, mm.ENV_ID, config, overrides)
    return policy, overrides, last, wall


def _report(policies: dict[str, Any], overrides: dict[str, Any], args: argparse.Namespace, extra: dict) -> str:
    rows = mm.compare(policies, overrides, args.episodes, args.eval_seed)
    table = mm.format_table(rows, mm.h00(overrides), args.episodes)
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(table + "\n")
        (out / "comparison.json").write_text(json.dumps({"rows": rows, **extra}, indent=2))
    return table


def cmd_demo(args: argparse.Namespace) -> None:
    policy, overrides, last, wall = _train(args)
    _report({"PPO (learned)": policy, **mm.baselines(overrides)}, overrides, args,
            {"train_wall_s": wall, "train_steps_per_s": last["steps_per_s"], "env_steps": last["env_steps"]})
    path = mm.plot_quotes(policy, overrides, Path(args.out) / "quotes.png")
    print(f"plot of learned versus optimal quotes: {path}")


def cmd_train(args: argparse.Namespace) -> None:
    args.out = args.out or f"runs/{args.task}"
    if args.task == "execution":
        _train_execution(args)
    elif args.task == "otc":
        _train_otc(args)
    else:
        _train(args)


def _train_otc(args: argparse.Namespace) -> None:
    """Multi-agent PPO on OTC-v0, then the learned LPs against the heuristic dealers."""
    if args.phi is not None or args.alpha is not None or args.total_timesteps is not None:
        raise SystemExit("--phi, --alpha and --total-timesteps do not apply to otc: use --total-rounds and --set FIELD=VALUE")
    overrides = _overrides(args.set)
    roles = {"lp": args.lp, "lt": args.lt}
    fields = {"total_rounds": otc_train.PPO_CONFIG.total_rounds if args.total_rounds is None else args.total_rounds}
    if args.num_envs is not None:
        fields["num_envs"] = args.num_envs
    trainer = otc_train.build(dataclasses.replace(otc_train.PPO_CONFIG, **fields), args.preset, overrides, roles)
    config, env = trainer.config, trainer.env
    print(f"training {', '.join(trainer.learned)} on {otc_train.ENV_ID} (preset {args.preset!r}, {env.num_agents}, "
          f"{env.config.n_flow} flow clients, roles {roles}): {config.num_updates * config.batch_size:,} rounds, "
          f"{config.num_envs} envs, on {jax.devices()[0].platform}")
    start = time.perf_counter()
    runner, rows = loop.run(trainer, seed_key(args.seed, "--seed"), metadata=otc_train.metadata(args.preset, overrides, roles),
                            out_dir=args.out, checkpoint_every=args.checkpoint_every, progress=not args.no_progress)
    wall = time.perf_counter() - start
    print(f"trained in {wall:.1f} s wall ({rows[-1]['steps_per_s']:,.0f} agent-steps/s after compiling); "
          f"checkpoint: {Path(args.out) / 'final'}")
    episodes = otc_evaluate.DEFAULT_EPISODES if args.episodes is None else args.episodes
    table = otc_evaluate.format_table(otc_evaluate.sweep(trainer, trained_multi_agent_policy(trainer, runner), {},
                                                         episodes, args.eval_seed))
    print(table)
    (Path(args.out) / "evaluation.md").write_text(f"{table}\n\nTraining: {rows[-1]['agent_steps']:,.0f} agent-steps in "
                                                  f"{wall:.1f} s wall on {jax.devices()[0].platform}.\n")


def _train_execution(args: argparse.Namespace) -> None:
    """PPO on Execution-v0, then the comparison with TWAP, always-market and always-passive."""
    if args.phi is not None or args.alpha is not None:
        raise SystemExit("--phi and --alpha belong to market-making; use --set FIELD=VALUE for Execution-v0")
    overrides = _overrides(args.set)
    config = ex.config_with(total_timesteps=args.total_timesteps, num_envs=args.num_envs)
    policy, last, wall = _train_ppo(args, ex.ENV_ID, config, overrides)
    policies = {"PPO (learned)": policy, **ex.baselines()}
    episodes = ex.EVAL_EPISODES if args.episodes is None else args.episodes
    table = ex.format_table(ex.compare(policies, overrides, episodes, args.eval_seed), episodes)
    print(table)
    out = Path(args.out)
    (out / "comparison.md").write_text(f"{table}\n\nTraining: {last['env_steps']:,.0f} env steps in {wall:.1f} s "
                                       f"wall on {jax.devices()[0].platform}.\n")


def cmd_evaluate(args: argparse.Namespace) -> None:
    if args.checkpoint and checkpoint.read_metadata(args.checkpoint).get("env_id") == otc_train.ENV_ID:
        _evaluate_otc(args)
        return
    if args.grid:
        raise SystemExit("--grid sweeps agent types of an OTC checkpoint ('jaxmarket train otc'); give --checkpoint")
    args.episodes = DEFAULT_EPISODES if args.episodes is None else args.episodes
    policies: dict[str, Any] = {}
    if args.checkpoint:
        env, _, policy, metadata = checkpoint.load(args.checkpoint)
        if metadata["env_id"] != mm.ENV_ID:
            raise SystemExit(f"--checkpoint is for {metadata['env_id']}; evaluate supports {mm.ENV_ID}")
        overrides = metadata["env_overrides"]
        policies["PPO (checkpoint)"] = policy
    else:
        overrides = _env_overrides(args)
    _report({**policies, **mm.baselines(overrides)}, overrides, args, {})
    if args.checkpoint and args.out:
        print(f"plot: {mm.plot_quotes(policies['PPO (checkpoint)'], overrides, Path(args.out) / 'quotes.png')}")


def _evaluate_otc(args: argparse.Namespace) -> None:
    """A sweep of an OTC checkpoint over a grid of agent types, learned LPs next to the heuristic dealers."""
    trainer, policy, _ = otc_train.load(args.checkpoint)
    grid = otc_evaluate.parse_grid(args.grid)
    episodes = otc_evaluate.DEFAULT_EPISODES if args.episodes is None else args.episodes
    table = otc_evaluate.format_table(otc_evaluate.sweep(trainer, policy, grid, episodes, args.eval_seed, args.agents))
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.md").write_text(table + "\n")
        print(f"table: {out / 'evaluation.md'}")


def cmd_experiment(args: argparse.Namespace) -> None:
    importlib.import_module(f"training.tasks.otc.experiments.{args.name}").main(args.rest)


def cmd_envs(args: argparse.Namespace) -> None:
    del args
    print("\n".join(jm.registered()))


def cmd_replay(args: argparse.Namespace) -> None:
    """Replay a LOBSTER file through one book with trading halts on; print the replay speed, the
    status counts, what the halts held, each RESUME's uncross, the file's cross prints and the top
    of the final book."""
    check_int("--depth", args.depth, 1)  # before the replay, not after it
    stream = load_lobster(args.messages, tick=args.tick)
    book = lob.empty(args.capacity, full_policy=args.full_policy, halts=True)
    replay = jax.jit(lob.apply_many).lower(book, stream.messages).compile()  # compile once, untimed
    start = time.perf_counter()
    book, results = jax.block_until_ready(replay(book, stream.messages))
    seconds = time.perf_counter() - start
    count = len(stream.times)
    print(f"{count:,} messages replayed in {seconds:.3f} s ({count / seconds:,.0f} messages/s, one book); "
          f"skipped rows by LOBSTER type: {stream.skipped}")
    counts = lob.counts(book)
    print("counts:", json.dumps(counts))
    results = jax.tree.map(np.asarray, results)
    kind, status = np.asarray(stream.messages.kind), results.status
    held = status == lob.HELD
    rested = held & np.isin(kind, (lob.LIMIT, lob.REPLACE, lob.MODIFY))
    dropped = held & ~rested
    print(f"halts: {int(np.sum(kind == lob.HALT))} HALT (quoting included), {int(np.sum(kind == lob.RESUME))} RESUME; "
          f"held while halted: {int(rested.sum())} orders rested unmatched, {int(dropped.sum())} IOC/market orders "
          f"dropped ({int(np.asarray(stream.messages.qty)[dropped].sum()):,} lots)")
    resumes = np.flatnonzero(kind == lob.RESUME)
    print(f"uncross at RESUME: {len(resumes)} (auction volume {counts['auction_volume']:,})")
    for t in resumes:
        volume, price, orders = int(results.filled[t]), int(results.fill_price[t, 0]), int(results.num_fills[t])
        print(f"  t={stream.times[t]:.6f}  volume {volume:,}" + (f" at {price} ticks, {orders} orders" if volume else ""))
    crosses = stream.crosses
    print(f"recorded cross prints (LOBSTER type 6, not applied): {len(crosses.times)}")
    for t, price, size, oid in zip(crosses.times, crosses.price, crosses.size, crosses.order_id):
        print(f"  t={t:.6f}  {int(size):,} at {int(price)} ticks (id {int(oid)})")
    levels = lob.l2(book, args.depth)
    print("level  bid qty  bid price  ask price  ask qty")
    for i in range(args.depth):
        print(f"{i + 1:5d}  {int(levels.bid_qty[i]):7d}  {int(levels.bid_price[i]):9d}  {int(levels.ask_price[i]):9d}  "
              f"{int(levels.ask_qty[i]):7d}")


def cmd_day(args: argparse.Namespace) -> None:
    overrides = _overrides(args.set)
    if args.env == "market":
        if args.policy is not None:
            raise SystemExit("--policy applies to --env daily-investor or execution, not to the market alone")
        series = md.simulate_market(seed=args.seed, minutes=None, **overrides)  # open to close
        title = f"Background market, one day (seed {args.seed})"
    else:
        env_id, policies = md.ENVS[args.env]
        name = args.policy or next(iter(policies))
        if name not in policies:
            raise SystemExit(f"--policy {name!r} is not a policy for --env {args.env}: choose one of {list(policies)}")
        series = md.simulate_day(env_id, policies[name](), seed=args.seed, **overrides)
        title = f"{env_id.split('/')[-1]} under {name} (seed {args.seed})"
    s = md.summarize(series)
    start, end = md.clock_label(series["open_s"] / 3600), md.clock_label(series["time"][-1] / 3600)
    print(f"{title}: {s['minutes']:.1f} min simulated ({start}-{end}, {int(s['rows'])} rows)")
    print(f"mean |mid - fundamental| = {s['mean_abs_mid_minus_fundamental']:.2f} cents; "
          f"median spread = {s['median_spread']:.1f} cents; book events = {int(s['book_events']):,}")
    if "return" in s:
        print(f"return = {s['return']:.4f} over {int(series['length'])} steps; "
              f"agent traded {int(s['agent_shares']):,} shares")
    print(f"plot: {md.plot_day(series, args.out, title)}")


def cmd_otc(args: argparse.Namespace) -> None:
    overrides = _overrides(args.set)
    options = {"n_lps": args.n_lps, "n_lts": args.n_lts, "n_flow": args.n_flow, "reference": args.reference}
    both = sorted(set(options) & set(overrides))
    if both:
        raise SystemExit(f"--set {both[0]}: use the --{both[0].replace('_', '-')} option instead")
    env, params = jm.make(otc.ENV_ID, **options, **overrides)
    policy = otc.policies()[args.policy](env)
    record = otc.simulate_episode(env, params, policy, seed=args.seed)
    title = (f"OTC-v0 under the {args.policy} policy: {args.n_lps} LPs, {args.n_lts} RL + {args.n_flow} flow clients, "
             f"{args.reference} reference, {int(params.n_rounds)} rounds (seed {args.seed})")
    print(otc.summarize(record))
    print(f"plot: {otc.plot_episode(record, args.out, title)}")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phi", type=float, default=None, help=f"running inventory penalty (default {mm.CRITERION['phi']})")
    p.add_argument("--alpha", type=float, default=None,
                   help=f"terminal inventory penalty (default {mm.CRITERION['alpha']})")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="any other field of the env's parameters, e.g. --set sigma=3.0 (repeatable)")


def _train_args(p: argparse.ArgumentParser, out: str | None) -> None:
    _model_args(p)
    p.add_argument("--total-timesteps", type=int, default=None, help=f"default: the task's preset ({mm.PPO_CONFIG.total_timesteps:,} for market-making, "
                        f"{ex.PPO_CONFIG.total_timesteps:,} for execution)")
    p.add_argument("--num-envs", type=int, default=None, help=f"default: the task's preset ({mm.PPO_CONFIG.num_envs} / {ex.PPO_CONFIG.num_envs})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out, help=f"directory for log.csv and checkpoints (default {out or 'runs/TASK'})")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N logged chunks")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--episodes", type=int, default=DEFAULT_EPISODES)
    p.add_argument("--eval-seed", type=int, default=1)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="jaxmarket", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train PPO on market making and compare it with the closed-form optimum")
    _train_args(demo, "runs/demo")
    _eval_args(demo)
    demo.set_defaults(func=cmd_demo)
    train = sub.add_parser("train", help="train PPO on an environment")
    train.add_argument("task", choices=["market-making", "execution", "otc"])
    _train_args(train, None)
    train.add_argument("--episodes", type=int, default=None,
                       help=f"evaluation episodes (default {ex.EVAL_EPISODES:,} for execution, "
                            f"{otc_evaluate.DEFAULT_EPISODES} for otc)")
    train.add_argument("--eval-seed", type=int, default=1)
    train.add_argument("--total-rounds", type=int, default=None,
                       help=f"otc: env rounds of training (default {otc_train.PPO_CONFIG.total_rounds:,})")
    train.add_argument("--lp", choices=otc_train.ROLES, default=otc_train.LEARN,
                       help="otc: the LPs learn (default), play the heuristic dealer, or act at random")
    train.add_argument("--lt", choices=otc_train.ROLES, default=otc_train.LEARN,
                       help="otc: the RL clients learn (default), play cheapest-quote, or act at random")
    train.add_argument("--preset", choices=list(otc_train.PRESETS), default="market",
                       help="otc: market (wide type ranges, the experiments' market; default), clients or schedule "
                            "(the client experiment's markets), default (OTC-v0 as it is)")
    train.set_defaults(func=cmd_train)
    evaluate = sub.add_parser("evaluate", help="evaluate a checkpoint and the analytic policies")
    evaluate.add_argument("--checkpoint", default=None, help="a directory written by training (…/final)")
    _model_args(evaluate)
    evaluate.add_argument("--episodes", type=int, default=None,
                          help=f"default {DEFAULT_EPISODES:,} (market-making), {otc_evaluate.DEFAULT_EPISODES} (OTC)")
    evaluate.add_argument("--eval-seed", type=int, default=1)
    evaluate.add_argument("--out", default=None, help="directory for the table (and plot)")
    evaluate.add_argument("--grid", action="append", default=[], metavar="FAMILY.FIELD=V1,V2,...",
                          help="OTC checkpoints: pin a type field to each value, e.g. lp.gamma=0,1,2 (repeatable: "
                               "every combination)")
    evaluate.add_argument("--agents", type=int, default=None,
                          help="OTC: pin the grid's fields for the first N agents of the family only (default all)")
    evaluate.set_defaults(func=cmd_evaluate)
    experiment = sub.add_parser("experiment", help="run one OTC experiment (a PNG and a table of a learned behaviour)")
    experiment.add_argument("name", choices=EXPERIMENTS)
    experiment.add_argument("rest", nargs=argparse.REMAINDER,
                            help="the experiment's options, e.g. --checkpoint runs/otc/final --out runs/experiments")
    experiment.set_defaults(func=cmd_experiment)
    envs = sub.add_parser("envs", help="list the registered environments")
    envs.set_defaults(func=cmd_envs)
    replay = sub.add_parser("replay", help="replay a LOBSTER message file through the order book")
    replay.add_argument("messages", help="a LOBSTER message file (…_message_N.csv)")
    replay.add_argument("--tick", type=int, default=100, help="LOBSTER price units per tick (100: one cent)")
    replay.add_argument("--capacity", type=int, default=1024, help="orders per side")
    replay.add_argument("--full-policy", choices=list(lob.FULL_POLICIES), default=lob.REJECT)
    replay.add_argument("--depth", type=int, default=5, help="price levels to print")
    replay.set_defaults(func=cmd_replay)
    day = sub.add_parser("day", help="simulate one trading day (the market alone or an env episode) and plot it")
    day.add_argument("--env", choices=["market", *md.ENVS], default="market",
                     help="market: the background market alone, open to close (default); or an env's episode")
    day.add_argument("--policy", default=None, choices=sorted({p for _, ps in md.ENVS.values() for p in ps}),
                     help="daily-investor: buy-and-hold (default) | random; "
                          "execution: twap (default) | market | passive")
    day.add_argument("--seed", type=int, default=0)
    day.add_argument("--out", default="runs/day/day.png", help="the PNG to write")
    day.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="a MarketConfig or params field, e.g. --set n_noise=500 (repeatable)")
    day.set_defaults(func=cmd_day)
    otc_p = sub.add_parser("otc", help="simulate one episode of the OTC dealer market (OTC-v0) and plot it")
    otc_p.add_argument("--policy", choices=list(otc.policies()), default=next(iter(otc.policies())),
                       help="heuristic: curve-pricing hedging LPs and cheapest-quote clients (default); "
                            "random: uniform actions")
    otc_p.add_argument("--n-lps", type=int, default=4, help="liquidity providers (default 4)")
    otc_p.add_argument("--n-lts", type=int, default=4, help="RL clients, acting through the env (default 4)")
    otc_p.add_argument("--n-flow", type=int, default=12, help="exogenous flow clients (default 12)")
    otc_p.add_argument("--reference", choices=["gbm", "replay"], default="gbm",
                       help="reference price: gbm (default) or replay of the bundled EUR/USD 2017 hourly series")
    otc_p.add_argument("--seed", type=int, default=0)
    otc_p.add_argument("--out", default="runs/otc/otc_episode.png", help="the PNG to write")
    otc_p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                       help="an OTCParams field or n_tiers, e.g. --set n_rounds=48 (repeatable)")
    otc_p.set_defaults(func=cmd_otc)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as error:  # bad settings or a missing file: say what is wrong, no traceback
        raise SystemExit(f"jaxmarket: {error}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
