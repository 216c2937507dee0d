"""Classifiers, budget metrics, reasons and MLflow tracking of the detector.

- ``detector``     the one fitted object: features + LightGBM + calibration + attribution;
- ``compiled``     the booster compiled to native code (lleaves), cached per model and machine;
- ``attribution``  per-feature contributions at predict speed (path attribution over leaves);
- ``reasons``      contributions grouped by family, worded as evidence for an analyst;
- ``ranking``      the one order by risk (ties by declaration id), for a request, a file and Dask;
- ``scoring``      inspection budget, exploration share, reasons for flagged rows;
- ``metrics``      precision, recall and value recall at budgets, ROC-AUC, PR-AUC;
- ``baselines``    rules, anomaly score alone, plain LightGBM on raw columns;
- ``training``     time windows and a full training run;
- ``tracking``     MLflow runs, registry and the champion/challenger gate (imports mlflow);
- ``pyfunc``       the MLflow model that serves raw canonical records;
- ``plots``        PNG figures logged with each run.
"""
