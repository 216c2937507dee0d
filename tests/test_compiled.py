"""Compiled trees (models/compiled.py): the served and batch booster as native code, equal to
LightGBM's margins, cached per model and machine, and LightGBM's own trees when the compiler is
missing or its cache is damaged."""

import copy
import shutil
import sys

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
