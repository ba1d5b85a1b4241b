"""A plain numpy reference of the Avellaneda–Stoikov step, written from the model's definition
(independent of the JAX code), for differential tests."""

from __future__ import annotations

import math

import numpy as np


def reference_step(state: dict, action, uniforms, normal: float, p: dict) -> tuple[dict, float, np.ndarray, int]:
    """One step. ``state``: mid, cash, inventory, time. Returns (state, reward, obs, invalid)."""
    bid_depth, ask_depth = float(action[0]), float(action[1])
    invalid = 0
    depths = []
    for d in (bid_depth, ask_depth):
        if math.isnan(d) or math.isinf(d) or d < 0 or d > p["max_depth"]:
            invalid = 1
        if math.isnan(d):
            d = p["max_depth"]
        depths.append(min(max(d, 0.0), p["max_depth"]))
    dt = p["horizon"] / p["max_steps_in_episode"]
    q = state["inventory"]
    bought = sold = 0
    if q < p["max_inventory"] and uniforms[0] < min(1.0, p["intensity"] * math.exp(-p["decay"] * depths[0]) * dt):
        bought = 1
    if q > -p["max_inventory"] and uniforms[1] < min(1.0, p["intensity"] * math.exp(-p["decay"] * depths[1]) * dt):
        sold = 1
    new_q = q + bought - sold
    mid = state["mid"]
    cash = state["cash"] - bought * (mid - depths[0]) + sold * (mid + depths[1])
    new_mid = mid + p["sigma"] * math.sqrt(dt) * normal
    time = state["time"] + 1
    wealth_change = (cash + new_q * new_mid) - (state["cash"] + q * mid)
    penalty = p["phi"] * new_q**2 * dt + (p["alpha"] * new_q**2 if time >= p["max_steps_in_episode"] else 0.0)
    new_state = {"mid": new_mid, "cash": cash, "inventory": new_q, "time": time}
    steps = p["max_steps_in_episode"]
    obs = np.array([(steps - time) / steps, new_q / p["max_inventory"]])
    return new_state, wealth_change - penalty, obs, invalid
