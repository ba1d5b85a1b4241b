"""Calibration of the OTC market to target statistics (``jaxmarket calibrate CONFIG``)."""
