"""The scoring service: manifests in, ranked risk scores with reasons out (FastAPI).

Arrives with the serving issue; it will load one fitted pipeline from the MLflow registry.
"""
