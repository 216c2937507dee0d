"""The batch benchmarks' world: 2 x ``rows`` declarations over 36 months (seed 11); the
detector trained on the last ``rows`` before 2026-05-01 (recorded in ``tmp/history.db``,
registered in the MLflow store ``MLFLOW_TRACKING_URI`` names, the store copied to
``tmp/trained.db``); the manifest is the next ``rows`` declarations, without outcomes."""

from __future__ import annotations

import shutil
from pathlib import Path


def trained_world(tmp: Path, rows: int):
    """(the manifest, the training outcome)."""
    from contraband.data.contract import OUTCOME_FIELDS
    from contraband.data.history import open_history
    from contraband.data.world import WorldConfig, generate
    from contraband.models.training import train

    world = generate(WorldConfig(rows=2 * rows, months=36, seed=11))
    history = world[world["declaration_date"] < "2026-05-01"].iloc[-rows:]
    manifest = world[world["declaration_date"] >= "2026-05-01"].head(rows)
    manifest = manifest.drop(columns=[c for c in manifest if c in OUTCOME_FIELDS or c.startswith("truth_")])
    del world
    store = open_history(tmp / "history.db")
    outcome = train(history, store, experiment="bench", log=lambda m: None)
    store.close()
    shutil.copy(tmp / "history.db", tmp / "trained.db")
    return manifest, outcome
