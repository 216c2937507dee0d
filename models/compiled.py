"""Compiled trees: a fitted booster evaluated as native code instead of LightGBM's tree walker.

Serving and batch runs compile the booster with ``lleaves`` (LLVM through ``llvmlite``) once per
model and machine: the object code is cached in a folder under a key made of the model's text,
the CPU (name and features, as LLVM sees them) and the compiler's versions, so a service worker,
a batch run and the next start load it in milliseconds instead of compiling again. A cache entry
is written under a temporary name and renamed into place, with its SHA-256 beside it; an entry
whose digest does not match (a half-written or damaged file) is compiled again, never loaded.

The compiled model returns the booster's raw margins, equal to LightGBM's to within 1e-12
(tested). When the compiler cannot be imported or fails, :func:`compile_booster` returns None
with the reason, and the caller keeps LightGBM and says so. ``CONTRABAND_COMPILED_TREES=0``
switches compilation off; ``CONTRABAND_COMPILED_CACHE`` names the cache folder (default
``compiled`` under the model cache, ``CONTRABAND_MODEL_CACHE`` or ``model-cache``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

SWITCH = "CONTRABAND_COMPILED_TREES"


def cache_folder() -> Path:
    """Where compiled models are kept."""
    if os.environ.get("CONTRABAND_COMPILED_CACHE"):
        return Path(os.environ["CONTRABAND_COMPILED_CACHE"])
    return Path(os.environ.get("CONTRABAND_MODEL_CACHE", "model-cache")) / "compiled"


@dataclass
class CompiledTrees:
    """A booster's raw margins from its compiled code."""

    model: object  # lleaves.Model, compiled
    key: str
    cached: bool  # loaded from the cache rather than compiled here

    def raw(self, values: np.ndarray, threads: int) -> np.ndarray:
        return self.model.predict(np.ascontiguousarray(values, dtype=np.float64), n_jobs=max(1, threads))

    def describe(self) -> str:
        return f"compiled trees (lleaves {metadata.version('lleaves')}, {'cached' if self.cached else 'compiled now'})"


def _host() -> str:
    import llvmlite.binding as llvm

    llvm.initialize()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot read them here: the name alone then
        features = ""
    return f"{llvm.get_process_triple()}|{llvm.get_host_cpu_name()}|{features}"


def _key(model_text: str) -> str:
    parts = [model_text, _host(), metadata.version("lleaves"), metadata.version("llvmlite")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compile_booster(booster, folder: str | os.PathLike | None = None) -> tuple[CompiledTrees | None, str]:
    """The booster compiled (from the cache when there), else None; and what was done, in words."""
    if os.environ.get(SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return None, f"LightGBM's trees ({SWITCH}=0)"
    try:
        import lleaves
    except Exception as exc:  # not installed, or its LLVM binding does not load on this machine
        return None, f"LightGBM's trees (the compiler is unavailable: {type(exc).__name__}: {exc})"
    try:
        text = booster.model_to_string()
        key = _key(text)
        folder = Path(folder) if folder is not None else cache_folder()
        return _compile(lleaves, text, key, folder)
    except Exception as exc:  # a compiler error must not stop scoring: LightGBM evaluates the same trees
        return None, f"LightGBM's trees (compiling failed: {type(exc).__name__}: {exc})"


def _compile(lleaves, text: str, key: str, folder: Path) -> tuple[CompiledTrees, str]:
    entry, digest = folder / f"{key}.o", folder / f"{key}.o.sha256"
    with tempfile.TemporaryDirectory(prefix="contraband-trees-") as tmp:
        model_file = Path(tmp) / "model.txt"
        model_file.write_text(text)
        model = lleaves.Model(model_file=str(model_file))
        if entry.exists() and digest.exists() and digest.read_text().strip() == _digest(entry):
            model.compile(cache=str(entry), raw_score=True)
            compiled = CompiledTrees(model, key, cached=True)
            return compiled, compiled.describe()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writable = os.access(folder, os.W_OK)
        except OSError:
            writable = False
        if not writable:
            model.compile(raw_score=True)
            compiled = CompiledTrees(model, key, cached=False)
            return compiled, f"{compiled.describe()}; not cached: {folder} is not writable"
        fresh = Path(tmp) / "trees.o"
        model.compile(cache=str(fresh), raw_score=True)
        _publish(fresh, entry, digest)
        compiled = CompiledTrees(model, key, cached=False)
        return compiled, compiled.describe()


def _publish(fresh: Path, entry: Path, digest: Path) -> None:
    """Copy the object code into the cache under a temporary name, then rename: a reader sees a
    whole entry or none; its digest is written last, so a half-published entry is never used."""
    for path, data in ((entry, fresh.read_bytes()), (digest, _digest(fresh).encode())):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
