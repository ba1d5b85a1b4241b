"""jaxmarket: a JAX-vectorized market simulator for reinforcement learning.

    import jaxmarket as jm
    env, params = jm.make("jaxmarket/MarketMaking-AS-v0", phi=0.01, alpha=0.001)
    stats = jm.evaluate(env, params, policy, num_episodes=10_000, seed=0)
    episodes = jm.record(env, params, policy, num_episodes=1_000, seed=0)   # whole episodes, for datasets
    gym_env = jm.interop.to_gymnasium(env, params)     # gymnasium, and PettingZoo for multi-agent envs
"""

from jaxmarket import baselines, data, envs, interop, lob, otc
from jaxmarket.core import Environment, MultiAgentEnv, VecEnv, Policy, Trajectories, Transitions, evaluate, make, check_key_reuse, random_policy, record, register, registered, seed_key, spaces, to_transitions

__version__ = "0.1.0"

__all__ = ["VecEnv", "Environment", "MultiAgentEnv", "otc", "Policy", "baselines", "data", "envs", "interop", "lob", "evaluate", "make", "record", "to_transitions", "Trajectories", "Transitions", "random_policy", "register", "registered", "seed_key", "check_key_reuse", "spaces"]
