"""Compiled trees (models/compiled.py): the served and batch booster as native code, equal to
LightGBM's margins, cached per model and machine, and LightGBM's own trees when the compiler is
missing or its cache is damaged."""

import copy
import os
import shutil
import signal
import sys
import time

import joblib
import numpy as np
import pytest

from contraband.models import compiled


@pytest.fixture()
def detector(trained):
    return copy.deepcopy(trained.detector)  # the session's detector stays as it was


@pytest.fixture(scope="module")
def compiled_once(trained, tmp_path_factory):
    """The session's detector compiled once into a cache folder of the module's (a compile takes
    several seconds): what it said, and the folder, which a test copies before it touches it."""
    folder = tmp_path_factory.mktemp("compiled")
    return copy.deepcopy(trained.detector).compile_trees(folder), folder


def _warm(compiled_once, tmp_path):
    """A copy of the module's compiled cache in ``tmp_path``."""
    shutil.copytree(compiled_once[1], tmp_path, dirs_exist_ok=True)
    return tmp_path


def _rows(trained, detector):
    features = trained.test_features.to_numpy(dtype="float64")
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(5_000, features.shape[1])) * np.nanstd(features, axis=0) + np.nanmean(features, axis=0)
    noise[rng.random(noise.shape) < 0.2] = np.nan  # missing values take LightGBM's default branches
    return np.vstack([features, noise])


def _lightgbm(detector, rows):
    return detector.model_.booster_.predict(rows, raw_score=True)


def test_compiled_margins_equal_lightgbms_to_1e_12(trained, detector, compiled_once, tmp_path):
    rows = _rows(trained, detector)
    expected = _lightgbm(detector, rows)
    blended = detector.margin(rows)
    first = compiled_once[0]  # compiled into an empty folder
    assert first.startswith("compiled trees (lleaves") and "compiled now" in first
    said = detector.compile_trees(_warm(compiled_once, tmp_path))
    assert said.startswith("compiled trees (lleaves") and "cached" in said
    got = detector._compiled.raw(rows, threads=2)
    assert np.max(np.abs(got - expected)) <= 1e-12
    assert np.max(np.abs(detector.margin(rows) - blended)) <= 1e-12  # the booster inside the detector's margin
    for i in (0, 1, len(rows) - 1):  # one row at a time, as the service scores it
        assert abs(detector.margin(rows[i:i + 1])[0] - blended[i]) <= 1e-12


def test_the_cache_is_used_again_and_a_damaged_entry_compiled_again(trained, detector, compiled_once, tmp_path):
    rows = _rows(trained, detector)[:500]
    detector.compile_trees(_warm(compiled_once, tmp_path))
    entry = next(tmp_path.glob("*.o"))
    again = copy.deepcopy(detector)
    assert "cached" in again.compile_trees(tmp_path)
    assert np.max(np.abs(again.margin(rows) - detector.margin(rows))) <= 1e-12
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])  # half-written or damaged
    damaged = copy.deepcopy(detector)
    assert "compiled now" in damaged.compile_trees(tmp_path)
    assert np.max(np.abs(damaged.margin(rows) - detector.margin(rows))) <= 1e-12
    assert "cached" in copy.deepcopy(detector).compile_trees(tmp_path)  # the entry was written again, whole


def test_without_the_compiler_lightgbm_scores_and_says_so(trained, detector, tmp_path, monkeypatch):
    rows = _rows(trained, detector)[:500]
    before = detector.margin(rows)
    monkeypatch.setitem(sys.modules, "lleaves", None)  # import fails as when it is not installed
    said = detector.compile_trees(tmp_path)
    assert said.startswith("LightGBM's trees (the compiler is unavailable")
    assert np.array_equal(detector.margin(rows), before)
    monkeypatch.delitem(sys.modules, "lleaves")
    monkeypatch.setenv(compiled.SWITCH, "0")
    assert copy.deepcopy(detector).compile_trees(tmp_path) == "LightGBM's trees (CONTRABAND_COMPILED_TREES=0)"


def test_a_pickled_detector_leaves_native_code_behind_and_compiles_where_it_is_used(trained, detector, compiled_once,
                                                                                    tmp_path):
    rows = _rows(trained, detector)[:500]
    detector.compile_trees(_warm(compiled_once, tmp_path))
    expected = detector.margin(rows)
    joblib.dump(detector, tmp_path / "d.joblib")  # as a Dask worker receives it
    loaded = joblib.load(tmp_path / "d.joblib")
    assert getattr(loaded, "_compiled", None) is None
    assert np.max(np.abs(loaded.margin(rows) - expected)) <= 1e-12
    assert loaded._compiled is not None and "cached" in loaded.trees_


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_first_score_never_waits_on_a_compile_and_the_library_is_picked_up_when_ready(trained, detector, tmp_path):
    """Issue 40: without a library in the cache, scoring starts at once with LightGBM's trees and
    says so; another process compiles, and the detector scores with the library once it is there,
    without a restart."""
    rows = _rows(trained, detector)[:500]
    said = detector.compile_trees(tmp_path, wait=False)
    assert said.startswith(compiled.PENDING) and "separate process" in said
    assert detector._compiled is None and np.array_equal(detector._raw_margin(rows, 1), _lightgbm(detector, rows))
    deadline = time.time() + 180
    while time.time() < deadline and not detector.trees_.startswith("compiled"):
        time.sleep(0.5)
    assert detector.trees_.startswith("compiled") and detector._compiled is not None, detector.trees_
    assert np.max(np.abs(detector._raw_margin(rows, 1) - _lightgbm(detector, rows))) <= 1e-12
    deadline = time.time() + 30  # the compile's process lets go of its lock and model text just after publishing
    while time.time() < deadline and [n for n in _entries(tmp_path) if not n.endswith((".o", ".o.sha256", ".json"))]:
        time.sleep(0.1)
    assert [n for n in _entries(tmp_path) if not n.endswith((".o", ".o.sha256", ".json"))] == []  # no lock, no model text left


def test_a_compile_killed_half_way_leaves_no_library_and_the_next_one_compiles(trained, detector, tmp_path):
    job, said = compiled.compile_booster(detector.model_.booster_, tmp_path, wait=False)
    assert isinstance(job, compiled.Compiling) and said.startswith(compiled.PENDING)
    watcher = job.process.pid
    deadline = time.time() + 30
    while time.time() < deadline and not open(f"/proc/{watcher}/task/{watcher}/children").read().split():
        time.sleep(0.01)  # until the compile itself has started (it then needs seconds to import and compile)
    os.killpg(watcher, signal.SIGKILL)  # the watcher and the compile, at once
    job.process.wait()
    time.sleep(0.5)
    assert not list(tmp_path.glob("*.o")) and not list(tmp_path.glob("*.failed"))  # nothing half-written is a library
    again = copy.deepcopy(detector)
    assert again.compile_trees(tmp_path).startswith("compiled trees")  # the dead compile's lock does not hold it up
    rows = _rows(trained, detector)[:500]
    assert np.max(np.abs(again._raw_margin(rows, 1) - _lightgbm(detector, rows))) <= 1e-12


def test_a_compile_beyond_its_limits_is_served_by_lightgbm_which_says_why(trained, detector, tmp_path, monkeypatch):
    monkeypatch.setenv(compiled.SECONDS, "1")  # a second of CPU: the compile is stopped
    said = detector.compile_trees(tmp_path)
    assert said.startswith("LightGBM's trees (the compiled trees could not be built: lleaves: stopped by SIG"), said
    assert "; lleaves without inlining: stopped by SIG" in said, said  # each way of compiling tried, each said
    assert "1 s of CPU" in said and not list(tmp_path.glob("*.o"))
    rows = _rows(trained, detector)[:500]
    assert np.array_equal(detector._raw_margin(rows, 1), _lightgbm(detector, rows))
    monkeypatch.delenv(compiled.SECONDS)
    t = time.perf_counter()
    assert copy.deepcopy(detector).compile_trees(tmp_path) == said  # the note holds: not compiled again
    assert time.perf_counter() - t < 5


def test_a_library_built_for_another_cpu_or_version_is_never_loaded(detector, compiled_once, tmp_path, monkeypatch):
    warm = _warm(compiled_once, tmp_path)
    found, said = compiled.compile_booster(detector.model_.booster_, warm, wait=False)
    assert isinstance(found, compiled.CompiledTrees) and "cached" in said
    host, version = compiled._host(), compiled.metadata.version
    for owner, name, value in ((compiled, "_host", lambda: host + "|another-cpu"),
                               (compiled.metadata, "version", lambda package: version(package) + ".other")):
        with monkeypatch.context() as m:
            m.setattr(owner, name, value)
            job, said = compiled.compile_booster(detector.model_.booster_, warm, wait=False)
        assert isinstance(job, compiled.Compiling) and said.startswith(compiled.PENDING), said  # not the library here
        os.killpg(job.process.pid, signal.SIGKILL)
        job.process.wait()


def test_a_model_s_compile_at_registration_writes_its_choice_and_figures_in_its_run(detector, tmp_path, monkeypatch):
    """Issue 40: a model being registered is compiled at once in a separate process, which
    measures the library against LightGBM's own predict on the same rows, keeps the faster, and
    writes the choice and its figures in the model's MLflow run; registered again, the figures
    come from the cache at once."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the compile's process writes there
    mlflow.set_tracking_uri(uri)  # and this one, as a registering process does
    monkeypatch.chdir(tmp_path)
    client, folder = MlflowClient(tracking_uri=uri), tmp_path / "compiled"
    experiment = client.create_experiment("trees")
    runs = [client.create_run(experiment).info.run_id for _ in range(2)]
    job, said = compiled.compile_booster(detector.model_.booster_, folder, wait=False, run_id=runs[0])
    assert isinstance(job, compiled.Compiling) and said.startswith(compiled.PENDING)
    found, said = job.wait()
    deadline = time.time() + 60  # the compile's process writes the run once it has let go of its lock
    while time.time() < deadline and "trees_engine" not in client.get_run(runs[0]).data.tags:
        time.sleep(0.2)
    first = client.get_run(runs[0]).data
    engine = first.tags["trees_engine"]
    assert engine == ("lleaves" if found is not None else "lightgbm"), (engine, said)  # the one that serves
    assert first.metrics["trees_compile_seconds"] > 0
    faster = first.metrics["trees_lleaves_rows_per_second"] > first.metrics["trees_lightgbm_rows_per_second"]
    assert faster == (engine == "lleaves")
    assert ("trees_note" in first.tags) == (engine == "lightgbm")
    again, _ = compiled.compile_booster(detector.model_.booster_, folder, wait=False, run_id=runs[1])
    assert not isinstance(again, compiled.Compiling)  # from the cache (or the note), no compile
    second = client.get_run(runs[1]).data
    assert second.tags["trees_engine"] == engine and second.metrics == first.metrics
