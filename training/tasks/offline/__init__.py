"""Datasets of logged interaction and learning from them: recording, Minari storage, offline learners and warm starts."""
