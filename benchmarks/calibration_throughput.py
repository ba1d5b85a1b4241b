"""Env steps/s of the whole calibration loop (agents learning included) beside plain multi-agent
training at the same sizes: the calibration overhead.

The market is the ``toy`` calibration's (``training/tasks/calibrate/configs/toy.toml``: 3 LPs, 2 RL
and 12 flow clients, 32-round episodes, both families learning). At each ``--num-envs``:

- ``mappo``: ``trainer.train`` of multi-agent PPO alone, the env parameters the same for every env;
- ``calibrate_rl`` / ``calibrate_cma_es``: ``calibrator.train``, ``--iterations`` outer iterations
  (each one episode of every env, i.e. the same PPO updates as ``mappo`` runs), theta drawn per
  group, metrics measured, the calibrator updated.

Each compiled call is timed (best of ``--repeats``); ``overhead`` is calibration wall time over
plain training's minus 1, from the same process.

    python -m benchmarks.calibration_throughput [--num-envs 64 256] [--iterations 4]
"""

from __future__ import annotations

import argparse
import dataclasses

import jax

from benchmarks.common import best_time, report
from training.learners.calibration import METHODS
from training.learners.mappo import make_trainer
from training.tasks.calibrate.run import build
from training.tasks.calibrate.spec import load
from training.tasks.otc import train as otc_train

CONFIG = "toy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    spec = load(CONFIG)
    env, params = otc_train.make_env(spec.preset, spec.overrides)
    for num_envs in args.num_envs:
        walls = {}
        for method in METHODS:
            steps = args.iterations * num_envs * int(params.n_rounds) * len(env.turn_order)
            sized = dataclasses.replace(spec, scales={"bench": {"env_steps": steps, "num_envs": num_envs,
                                                                "eval_episodes": num_envs}})
            built = build(sized, "bench", method)
            calibrator = built.calibrator
            if method == METHODS[0]:  # plain training: the same trainer config, no episode metrics, no calibrator
                trainer = calibrator.trainer
                plain = make_trainer(trainer.config, trainer.env, trainer.env_params, trainer.fixed)
                train = jax.jit(plain.train).lower(jax.random.key(0)).compile()
                walls["mappo"] = best_time(train, jax.random.key(0), repeats=args.repeats)
                rounds = plain.config.num_updates * plain.config.batch_size
                env_steps = rounds * len(trainer.env.turn_order)
                report(what="multi-agent PPO training env steps/s (toy calibration market)", mode="mappo",
                       num_envs=num_envs, env_steps=env_steps, env_steps_per_s=round(env_steps / walls["mappo"]),
                       wall_s=round(walls["mappo"], 3))
            train = jax.jit(calibrator.train).lower(jax.random.key(0)).compile()
            walls[method] = best_time(train, jax.random.key(0), repeats=args.repeats)
            env_steps = built.env_steps
            report(what="calibration loop env steps/s, agents learning (toy calibration market)",
                   mode=f"calibrate_{method}", num_envs=num_envs, groups=calibrator.config.groups,
                   iterations=calibrator.config.iterations, env_steps=env_steps,
                   env_steps_per_s=round(env_steps / walls[method]), wall_s=round(walls[method], 3),
                   overhead=round(walls[method] / walls["mappo"] - 1.0, 4))


if __name__ == "__main__":
    main()
