"""The learner library: PPO (``ppo``) and multi-agent PPO (``mappo``) trained end to end inside
``jit``, their networks (``networks``), the PPO loss and GAE they share (``losses``), observation
normalisation (``normalize``), the jitted-chunk training loop with logs (``loop``), the
learner-agnostic checkpoint storage (``storage``), the PPO policy checkpoints (``checkpoint``), the
calibrator over env parameters (``calibration``: the RL calibrator and CMA-ES), the offline
learners on logged transitions (``offline`` shared pieces, ``bc`` behaviour cloning, ``iql``
implicit Q-learning) and PPO warm starts from their checkpoints (``warm_start``). Imports run one
way: ``networks``, ``normalize``, ``loop`` <- ``losses``, ``storage`` <- ``ppo`` <- ``mappo``,
``checkpoint`` <- ``calibration``; ``ppo`` <- ``offline`` <- ``bc``, ``iql``; ``ppo`` <-
``warm_start``. Nothing here knows a task: the recipes that use it are in ``training.tasks``."""
