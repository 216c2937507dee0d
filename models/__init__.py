"""Classifiers, budget metrics, reasons and MLflow tracking of the detector.

Owns training on inspected rows with time-based windows, calibration, the baselines, the
per-budget metrics analysts use, the reasons attached to each score, and the champion /
challenger gate in the MLflow registry. Arrives with the detection issue (#4).
"""
