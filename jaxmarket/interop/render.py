"""``render_mode="rgb_array"`` for the gymnasium adapter: the episode so far as a picture.

Two panels against the step: each observation feature, and the cumulative reward. Drawn with
matplotlib's Agg canvas (no window, no pyplot state), so it works headless and in worker processes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FIGURE_SIZE_IN = (6.4, 4.8)  # inches; with FIGURE_DPI, a 640 x 480 frame
FIGURE_DPI = 100
MAX_LABELLED_FEATURES = 8  # observation features named in the legend; more are drawn unlabelled


def episode_frame(title: str, observations: list[np.ndarray], rewards: list[float]) -> np.ndarray:
    """The episode so far as an RGB image.

    Args:
      title: the figure's title (the env id).
      observations: the observations since the reset, the reset's first; each flattened to features.
      rewards: the rewards of the steps since the reset (one fewer than ``observations``).

    Returns:
      uint8 ``(480, 640, 3)``: height, width, RGB.
    """
    figure = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI)
    canvas = FigureCanvasAgg(figure)
    features_ax, reward_ax = figure.subplots(2, 1, sharex=True)
    features = np.stack([np.ravel(o) for o in observations]).astype(np.float64)
    steps = np.arange(len(observations))
    for i in range(features.shape[1]):
        label = f"obs[{i}]" if i < MAX_LABELLED_FEATURES else None
        features_ax.plot(steps, features[:, i], label=label)
    features_ax.set_ylabel("observation")
    if features.shape[1]:
        features_ax.legend(loc="upper left", fontsize="small", ncol=2)
    reward_ax.plot(steps, np.concatenate([[0.0], np.cumsum(rewards)]), color="black")
    reward_ax.set_ylabel("cumulative reward")
    reward_ax.set_xlabel("step")
    figure.suptitle(title)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
