"""The learner library: PPO (``ppo``) and multi-agent PPO (``mappo``) trained end to end inside
``jit``, their networks (``networks``), observation normalisation (``normalize``), the jitted-chunk
training loop with logs (``loop``) and orbax checkpoints (``checkpoint``). Nothing here knows a
task: the recipes that use it are in ``training.tasks``."""
