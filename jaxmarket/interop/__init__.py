"""jaxmarket's envs for the gymnasium and PettingZoo stacks (Stable-Baselines3, CleanRL, RLlib,
TorchRL, SuperSuit...).

- ``to_gymnasium(env, params)``: a single-agent env as a ``gymnasium.Env`` (``GymnasiumEnv``);
- ``to_gymnasium_vector(env, params, num_envs)``: a batch of it as a ``gymnasium.vector.VectorEnv``
  stepped in one jitted call (``GymnasiumVectorEnv``);
- ``to_pettingzoo(env, params)``: a multi-agent env as a PettingZoo ``ParallelEnv`` (``PettingZooEnv``).

Every single-agent id is also registered with gymnasium (``jaxmarket.core.registry.register``), so
after ``import jaxmarket``, ``gymnasium.make("jaxmarket/MarketMaking-AS-v0", phi=0.01)`` and
``gymnasium.make_vec(id, num_envs, vectorization_mode="vector_entry_point")`` build these adapters.
"""

from jaxmarket.interop.gymnasium_env import GymnasiumEnv, to_gymnasium
from jaxmarket.interop.gymnasium_vector import GymnasiumVectorEnv, to_gymnasium_vector
from jaxmarket.interop.pettingzoo_env import PettingZooEnv, to_pettingzoo
from jaxmarket.interop.spaces import to_gymnasium_space

__all__ = ["GymnasiumEnv", "GymnasiumVectorEnv", "PettingZooEnv", "to_gymnasium", "to_gymnasium_space",
           "to_gymnasium_vector", "to_pettingzoo"]
