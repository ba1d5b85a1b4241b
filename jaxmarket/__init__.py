"""jaxmarket: a JAX-vectorized market simulator for reinforcement learning.

    import jaxmarket as jm
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", phi=0.01, alpha=0.001)
    stats = jm.evaluate(env, params, policy, num_episodes=10_000, seed=0)
    gym_env = jm.interop.to_gymnasium(env, params)     # gymnasium, and PettingZoo for multi-agent envs
"""

from jaxmarket import baselines, data, envs, interop, lob, otc
from jaxmarket.core import Environment, MultiAgentEnv, VecEnv, Policy, evaluate, make, check_key_reuse, random_policy, register, registered, seed_key, spaces

__version__ = "0.1.0"

__all__ = ["VecEnv", "Environment", "MultiAgentEnv", "otc", "Policy", "baselines", "data", "envs", "interop", "lob", "evaluate", "make", "random_policy", "register", "registered", "seed_key", "check_key_reuse", "spaces"]
