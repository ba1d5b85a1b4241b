"""Multi-agent PPO training agent-steps/s on OTC-v0, both families learning, in one jit
(``train(key)``): an agent-step is one decision of one learning agent (a round of an env with
``n_lps`` LPs and ``n_lts`` RL clients is ``n_lps + n_lts`` agent-steps).

Markets: "4/16" is 4 LPs and 16 RL clients; "10/100" is 10 LPs and 100 RL clients (no flow
clients: every client learns). Each configuration runs ``--updates`` PPO updates of
``num_envs * --num-rounds`` rounds; the compiled call is timed (best of ``--repeats``).

    python -m benchmarks.mappo_throughput [--markets 4/16 10/100] [--num-envs 256 1024 4096]
"""

from __future__ import annotations

import argparse
import dataclasses

import jax

from benchmarks.common import best_time, report
from training.tasks.otc import train as otc_train
from training.learners.mappo import make_trainer

MARKETS = {"4/16": (4, 16), "10/100": (10, 100)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markets", nargs="+", choices=list(MARKETS), default=list(MARKETS))
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--num-rounds", type=int, default=otc_train.PPO_CONFIG.num_rounds)
    parser.add_argument("--updates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for market in args.markets:
        n_lps, n_lts = MARKETS[market]
        env, params = otc_train.make_env("market", {"n_lps": n_lps, "n_lts": n_lts, "n_flow": 0})
        for num_envs in args.num_envs:
            config = dataclasses.replace(otc_train.PPO_CONFIG, num_envs=num_envs, num_rounds=args.num_rounds,
                                         total_rounds=num_envs * args.num_rounds * args.updates)
            trainer = make_trainer(config, env, params)
            train = jax.jit(trainer.train).lower(jax.random.key(0)).compile()
            seconds = best_time(train, jax.random.key(0), repeats=args.repeats)
            rounds = config.num_updates * config.batch_size
            report(what="MAPPO training agent-steps/s (OTC-v0, LPs and clients learning)", market=market,
                   n_lps=n_lps, n_lts=n_lts, num_envs=num_envs, rounds=rounds,
                   agent_steps_per_s=round(rounds * trainer.agents_per_round / seconds),
                   rounds_per_s=round(rounds / seconds), wall_s=round(seconds, 2))


if __name__ == "__main__":
    main()
