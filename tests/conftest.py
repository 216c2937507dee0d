"""Shared fixtures: a small synthetic world, the shared KCS dataset (skipped when absent), and
the databases a history store can live on (a SQLite file; a real PostgreSQL server)."""

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
def postgres():
    """A PostgreSQL server started for the session from the Debian package's binaries
    (tests/postgres.py), stopped at its end; skipped where they are not installed."""
    import postgres as server

    if server.binaries() is None:
        pytest.skip(server.MISSING)
    running = server.start()
    yield running
    running.stop()


DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def history_location(request, tmp_path):
    """``history_location(name)``: where a new, empty history store goes, on each database in
    turn: a SQLite file in the test's folder, then a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return lambda name: str(tmp_path / f"{name}.db")
    return request.getfixturevalue("postgres").database


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
def server_world_history(world, postgres):
    """:func:`world_history` on the session's PostgreSQL server (closed: a test takes a copy of
    it with ``history_helpers.clone``, which the server makes from it as a template)."""
    from contraband.data.history import open_history

    store = open_history(postgres.database("world"))
    store.ingest(world, outcomes=True, source="world")
    store.close()
    return store


@pytest.fixture(scope="session")
def trained(world, world_history):
    """A detector trained on the world (default windows), its test window scored blind."""
    from contraband.models.training import fit_and_evaluate

    return fit_and_evaluate(world, world_history, log=lambda m: None)


@pytest.fixture(scope="session")
def registry(trained, tmp_path_factory):
    """A SQLite tracking store (its own folder) where the trained detector is registered as
    ``contraband-detector`` version 1 and holds the ``champion`` alias."""
    from types import SimpleNamespace

    from contraband.models import tracking

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root)  # the artifacts of a SQLite store go to ./mlruns
        client = tracking.setup("service-tests")
        run_id, model_uri = tracking.log_training(trained.detector, trained.windows.as_dict(), trained.results,
                                                  trained.curves, {"data": "world"})
        version = tracking.register(model_uri, tracking.DEFAULT_MODEL_NAME)
        client.set_registered_model_alias(tracking.DEFAULT_MODEL_NAME, tracking.CHAMPION, version)
    return SimpleNamespace(uri=uri, root=root, model_uri=model_uri, run_id=run_id, version=version)


@pytest.fixture(scope="session")
def service(registry, world_history, tmp_path_factory):
    """``contraband serve`` on 127.0.0.1 over a copy of the world's history, with a key of each
    role (``service.keys``: analyst, supervisor, admin); uploads above 8 MB are refused."""
    from history_helpers import clone
    from service_helpers import Service

    from contraband.api.access import KeyRing

    root = tmp_path_factory.mktemp("service")
    store = clone(world_history, root / "history.db")
    ring = KeyRing(store)
    keys = {role: ring.create(role, "tests") for role in ("analyst", "supervisor", "admin")}
    store.close()
    env = {"MLFLOW_TRACKING_URI": registry.uri, "CONTRABAND_HISTORY": str(root / "history.db"),
           "CONTRABAND_MODEL_CACHE": str(root / "cache"), "CONTRABAND_MAX_UPLOAD_MB": "8"}
    server = Service(root, env, keys=keys)
    server.root = root
    yield server
    server.stop()
