"""A simulated trading day: the background market alone or an ABIDES-Gym env episode, summarised and plotted (``jaxmarket day``)."""
