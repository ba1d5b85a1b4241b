"""Environment API: base classes (single- and multi-agent), supertypes, spaces, registry, evaluation, recording, configuration checks."""

from jaxmarket.core import spaces, supertypes
from jaxmarket.core.vec_env import VecEnv, per_env
from jaxmarket.core.environment import Environment
from jaxmarket.core.multi_agent import MultiAgentEnv
from jaxmarket.core.evaluate import Policy, evaluate, random_policy, rollout_episode
from jaxmarket.core.record import Trajectories, Transitions, record, to_transitions
from jaxmarket.core.keys import MAX_SEED, check_key_reuse, seed_key
from jaxmarket.core.registry import make, register, registered

__all__ = ["VecEnv", "per_env", "Environment", "MultiAgentEnv", "supertypes", "Policy", "evaluate", "make", "random_policy", "register", "registered", "rollout_episode", "record", "to_transitions", "Trajectories", "Transitions", "spaces", "MAX_SEED", "check_key_reuse", "seed_key"]
