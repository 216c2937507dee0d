"""Shared fixtures: a small synthetic world, and the shared KCS dataset (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contraband.data.world import WorldConfig, generate

REPO = Path(__file__).resolve().parent.parent
#: the shared material beside the project (``../shared``); CONTRABAND_SHARED points elsewhere
SHARED = Path(os.environ.get("CONTRABAND_SHARED", REPO.parent / "shared"))
KCS_DIR = SHARED / "data" / "kcs"
KCS_FILES = {"train": KCS_DIR / "df_syn_train_eng.csv", "valid": KCS_DIR / "df_syn_valid_eng.csv"}


@pytest.fixture(scope="session")
def kcs_path():
    """``kcs_path("train" | "valid")``: a shared KCS file, or a clear skip when ../shared is absent."""

    def find(split: str) -> Path:
        path = KCS_FILES[split]
        if not path.exists():
            pytest.skip(f"shared KCS dataset not found at {path} (../shared is absent on this machine)")
        return path

    return find


@pytest.fixture(scope="session")
def world_config() -> WorldConfig:
    return WorldConfig(rows=120_000, seed=7)


@pytest.fixture(scope="session")
def world(world_config):
    return generate(world_config)


@pytest.fixture(scope="session")
def world_history(world, tmp_path_factory):
    """The world's declarations and outcomes recorded in a history store (read-only for tests:
    a test that records more declarations builds a store of its own)."""
    from contraband.data.history import open_history

    store = open_history(tmp_path_factory.mktemp("history") / "world.db")
    store.ingest(world, outcomes=True, source="world")
    return store


@pytest.fixture(scope="session")
def trained(world, world_history):
    """A detector trained on the world (default windows), its test window scored blind."""
    from contraband.models.training import fit_and_evaluate

    return fit_and_evaluate(world, world_history, log=lambda m: None)
