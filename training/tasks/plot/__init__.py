"""Drawing a finished (or running) run's training curves from its ``log.csv`` (``jaxmarket plot RUN_DIR``)."""
