"""Replaying a LOBSTER message file through one order book (``jaxmarket replay``)."""
