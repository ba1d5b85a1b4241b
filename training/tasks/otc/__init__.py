"""The OTC dealer market: multi-agent PPO training, type sweeps, probes, episode plots and the experiments (``jaxmarket train otc``, ``otc``, ``evaluate --grid``, ``experiment``)."""
