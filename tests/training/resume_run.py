"""A small multi-agent PPO run driven by ``loop.run`` with a resumable checkpoint after every chunk,
for the kill-and-resume test (``tests/training/test_resume.py``):

    python -m tests.training.resume_run OUT

Run again with the same OUT, it resumes from OUT's newest checkpoint. The market is the synthetic
multi-agent env of the calibrator's tests (it compiles in seconds, where OTC-v0 takes most of a
minute on a 2-core CPU); the trainer, its runner state and the loop are those of any market.
"""

from __future__ import annotations

import dataclasses
import sys

from jaxmarket.core.keys import check_key_reuse, seed_key
from tests.training.learners import test_calibration as toy
from training.learners import loop
from training.learners.mappo import make_trainer

CONFIG = dataclasses.replace(toy.AGENTS, num_minibatches=2, total_rounds=toy.AGENTS.num_envs * 60, updates_per_chunk=2)
SEED = 11


def main(out: str) -> None:
    check_key_reuse()
    trainer = make_trainer(CONFIG, toy.ENV, toy.BASE)
    loop.run(trainer, seed_key(SEED), metadata={"market": "toy"}, out_dir=out, checkpoint_interval=0,
             keep_checkpoints=2, progress=False)


if __name__ == "__main__":
    main(sys.argv[1])
