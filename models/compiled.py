"""Compiled trees: a fitted booster evaluated as native code instead of LightGBM's tree walker.

Serving and batch runs compile the booster with ``lleaves`` (LLVM through ``llvmlite``) once per
model and machine: the object code is cached in a folder under a key made of the model's text,
the CPU (name and features, as LLVM sees them) and the compiler's versions, so a service worker,
a batch run and the next start load it in milliseconds instead of compiling again; a library
built for another CPU or other versions has another key and is never loaded. A cache entry is
written under a temporary name and renamed into place, with its SHA-256 beside it; an entry whose
digest does not match (a half-written or damaged file) is compiled again, never loaded.

A compile runs in a separate process, within limits of its own (``CONTRABAND_COMPILE_SECONDS``
of CPU, 900 by default, and ``CONTRABAND_COMPILE_MB`` of address space, 6,144 by default): a model
of a thousand deep trees can take LLVM many minutes and gigabytes, and a scoring request must
never wait on that. It starts when a model is registered, tries lleaves' defaults and then lleaves
without inlining (:data:`OPTIONS`), measures the library against LightGBM's own predict on the
same rows and keeps it only when it is the faster; the choice and its figures are kept beside it
(``KEY.json``) and written in the model's MLflow run. Until the library exists, scoring uses LightGBM's own trees and says so
once; the library is picked up, without a restart, as soon as the compile ends. A compile killed
half-way leaves no library (nothing is renamed into place); one stopped by its limits leaves a
note (``KEY.failed``) so that the model is served by LightGBM from then on, and the note says why.
Only one process compiles a given model at a time (``KEY.compiling`` holds its process id).

The compiled model returns the booster's raw margins, equal to LightGBM's to within 1e-12
(tested). When the compiler cannot be imported or fails, the caller keeps LightGBM and says so.
``CONTRABAND_COMPILED_TREES=0`` switches compilation off; ``CONTRABAND_COMPILED_CACHE`` names the
cache folder (default ``compiled`` under the model cache, ``CONTRABAND_MODEL_CACHE`` or
``model-cache``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

SWITCH = "CONTRABAND_COMPILED_TREES"
#: seconds of CPU and megabytes of address space one compile may take
SECONDS, MEGABYTES = "CONTRABAND_COMPILE_SECONDS", "CONTRABAND_COMPILE_MB"
#: what scoring says while the library is being built
PENDING = "LightGBM's trees until the compiled ones are ready"
#: rows a compile predicts, compiled and with LightGBM, to choose between them (one thread each)
PROBE_ROWS = 20_000
#: the ways of compiling tried, in order, each in a process of its own within the limits, until
#: one gives a library: lleaves' defaults (functions inlined: the fastest predict where it fits),
#: then without inlining (a model of a thousand deep trees needs over 6 GB inlined, about 1.4 GB
#: and a minute without: ``bench/compiled.py``)
OPTIONS = {"lleaves": {}, "lleaves without inlining": {"finline": False}}


def cache_folder() -> Path:
    """Where compiled models are kept."""
    if os.environ.get("CONTRABAND_COMPILED_CACHE"):
        return Path(os.environ["CONTRABAND_COMPILED_CACHE"])
    return Path(os.environ.get("CONTRABAND_MODEL_CACHE", "model-cache")) / "compiled"


def limits() -> tuple[int, int]:
    """The CPU seconds and megabytes one compile may take."""
    return int(os.environ.get(SECONDS) or 900), int(os.environ.get(MEGABYTES) or 6144)


@dataclass
class CompiledTrees:
    """A booster's raw margins from its compiled code."""

    model: object  # lleaves.Model, compiled
    key: str
    cached: bool  # loaded from the cache rather than compiled for this caller

    def raw(self, values: np.ndarray, threads: int) -> np.ndarray:
        return self.model.predict(np.ascontiguousarray(values, dtype=np.float64), n_jobs=max(1, threads))

    def describe(self) -> str:
        return f"compiled trees (lleaves {metadata.version('lleaves')}, {'cached' if self.cached else 'compiled now'})"


@dataclass
class Compiling:
    """A compile under way in another process: where its library will appear."""

    text: str
    key: str
    folder: Path
    process: subprocess.Popen | None  # the compile this caller started (None: another process's)

    def result(self) -> tuple[CompiledTrees | None, str | None]:
        """The library once it is ready, or why there will be none; (None, None) while under way."""
        found = _cached(self.text, self.key, self.folder, cached=self.process is None)
        if found is not None:
            return found, found.describe()
        failed = _failed(self.folder, self.key)
        if failed is not None:
            return None, failed
        if self.process is not None and self.process.poll() is not None and not _compiling(self.folder, self.key):
            return None, "LightGBM's trees (the compile ended without a library)"
        if self.process is None and not _compiling(self.folder, self.key):  # the other process died: ours now
            self.process = _start(self.text, self.key, self.folder)
        return None, None

    def wait(self, poll: float = 0.2) -> tuple[CompiledTrees | None, str]:
        while True:
            found, said = self.result()
            if found is not None or said is not None:
                return found, said
            time.sleep(poll)


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


def compile_booster(booster, folder: str | os.PathLike | None = None, wait: bool = True,
                    run_id: str | None = None) -> tuple[CompiledTrees | Compiling | None, str]:
    """The booster's compiled trees from the cache when there; else a compile in a separate
    process, waited for (``wait``) or left running (a :class:`Compiling` to ask later, and
    LightGBM's trees meanwhile); None when there will be none. And what was done, in words.
    With ``run_id`` (a model being registered), the choice and its figures (:data:`FIGURES`)
    are written in that MLflow run: now when they are known, else by the compile's process."""
    if os.environ.get(SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return None, f"LightGBM's trees ({SWITCH}=0)"
    try:
        import lleaves  # noqa: F401 - only whether it loads here
    except Exception as exc:  # not installed, or its LLVM binding does not load on this machine
        return None, f"LightGBM's trees (the compiler is unavailable: {type(exc).__name__}: {exc})"
    try:
        text = booster.model_to_string()
        key = _key(text)
        folder = _writable(Path(folder) if folder is not None else cache_folder())
        found = _cached(text, key, folder)
        failed = _failed(folder, key) if found is None else None
        if run_id is not None and (found is not None or failed is not None):
            _log_figures(folder, key, run_id)
        if found is not None:
            return found, found.describe()
        if failed is not None:
            return None, failed
        job = Compiling(text, key, folder, None if _compiling(folder, key) else _start(text, key, folder, run_id))
        if wait:
            found, said = job.wait()
            if found is not None:
                found.cached = False
                return found, found.describe()
            return None, said
        seconds, megabytes = limits()
        return job, (f"{PENDING} (compiling in a separate process, within {seconds:,} s of CPU and "
                     f"{megabytes:,} MB)")
    except Exception as exc:  # a compiler error must not stop scoring: LightGBM evaluates the same trees
        return None, f"LightGBM's trees (compiling failed: {type(exc).__name__}: {exc})"


def _writable(folder: Path) -> Path:
    """The cache folder, or a temporary one when it cannot be written (nothing is kept then)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="contraband-trees-"))


def _cached(text: str, key: str, folder: Path, cached: bool = True) -> CompiledTrees | None:
    """The library of ``key`` loaded from the cache, when it is there whole."""
    entry, digest = folder / f"{key}.o", folder / f"{key}.o.sha256"
    if not (entry.exists() and digest.exists() and digest.read_text().strip() == _digest(entry)):
        return None
    import lleaves

    with tempfile.TemporaryDirectory(prefix="contraband-trees-") as tmp:
        model_file = Path(tmp) / "model.txt"
        model_file.write_text(text)
        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(entry), raw_score=True, **OPTIONS.get(figures(folder, key).get("engine"), {}))
    return CompiledTrees(model, key, cached=cached)


def _failed(folder: Path, key: str) -> str | None:
    note = folder / f"{key}.failed"
    if not note.exists():
        return None
    return f"LightGBM's trees ({note.read_text().strip()})"


def _compiling(folder: Path, key: str) -> bool:
    """Whether a live process is compiling ``key`` (a note left by a dead one is removed)."""
    lock = folder / f"{key}.compiling"
    try:
        pid = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, PermissionError, OSError):
        lock.unlink(missing_ok=True)
        return False


def _start(text: str, key: str, folder: Path, run_id: str | None = None) -> subprocess.Popen | None:
    """Start the compile of ``key`` in a separate process that watches it (None: another took it)."""
    lock = folder / f"{key}.compiling"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return None
    model_file = folder / f".{key}.txt"
    model_file.write_text(text)
    process = subprocess.Popen([sys.executable, "-m", "contraband.models.compiled", "watch", str(model_file),
                                str(folder), key, *(["--run", run_id] if run_id else [])],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    os.write(fd, str(process.pid).encode())
    os.close(fd)
    return process


def _publish(fresh: Path, entry: Path, digest: Path) -> None:
    """Copy the object code into the cache under a temporary name, then rename: a reader sees a
    whole entry or none; its digest is written last, so a half-published entry is never used."""
    for path, data in ((entry, fresh.read_bytes()), (digest, _digest(fresh).encode())):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def _watch(model_file: Path, folder: Path, key: str, run_id: str | None = None) -> int:
    """Run the compile in a child process within the limits, each of :data:`OPTIONS` in turn
    until one gives a library (or finds LightGBM the faster); when none does, leave the note that
    says why for each; then release the lock, and write the outcome in the model's run
    (``run_id``). The limits hold for each try."""
    seconds, megabytes = limits()

    def bounded():  # in the child, before it runs: its limits, and the lowest CPU priority (scoring first)
        import resource

        os.nice(19)
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
        resource.setrlimit(resource.RLIMIT_AS, (megabytes * 2**20, megabytes * 2**20))

    tried = []
    try:
        for option in OPTIONS:
            run = subprocess.run([sys.executable, "-m", "contraband.models.compiled", "compile", str(model_file),
                                  str(folder), key, "--option", option], preexec_fn=bounded, capture_output=True,
                                 text=True)
            if (folder / f"{key}.o").exists() or (folder / f"{key}.failed").exists():
                return run.returncode  # a library, or LightGBM the faster: no other option is tried
            if run.returncode < 0:
                why = (f"stopped by {signal.Signals(-run.returncode).name} beyond its limits of {seconds:,} s of "
                       f"CPU and {megabytes:,} MB")
            else:
                last = [line for line in run.stderr.splitlines() if line.strip()]
                why = (last[-1].strip() if last else f"exit code {run.returncode}") + \
                    f" (within {seconds:,} s of CPU and {megabytes:,} MB)"
            tried.append(f"{option}: {why}")
        (folder / f"{key}.failed").write_text(f"the compiled trees could not be built: {'; '.join(tried)}\n")
        return run.returncode
    finally:
        model_file.unlink(missing_ok=True)
        (folder / f"{key}.compiling").unlink(missing_ok=True)
        if run_id is not None:
            _log_figures(folder, key, run_id)


def _compile_into(model_file: Path, folder: Path, key: str, option: str = "lleaves") -> None:
    """Compile the model, measure its predict against LightGBM's on the same rows, and publish
    the library when it is the faster (else leave the note that LightGBM serves, and why); the
    figures go beside it (the child process's work)."""
    import lightgbm
    import lleaves

    with tempfile.TemporaryDirectory(prefix="contraband-trees-") as tmp:
        fresh = Path(tmp) / "trees.o"
        t = time.perf_counter()
        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(fresh), raw_score=True, **OPTIONS[option])
        measured = {"compile_seconds": round(time.perf_counter() - t, 3)}
        booster = lightgbm.Booster(model_file=str(model_file))
        rows = probe_rows(booster, PROBE_ROWS)
        for engine, predict in (("lightgbm", lambda x: booster.predict(x, raw_score=True, num_threads=1)),
                                ("lleaves", lambda x: model.predict(x, n_jobs=1))):
            predict(rows[:1000])  # warm
            t = time.perf_counter()
            predict(rows)
            measured[f"{engine}_rows_per_second"] = round(len(rows) / (time.perf_counter() - t))
        faster = measured["lleaves_rows_per_second"] > measured["lightgbm_rows_per_second"]
        measured["engine"] = option if faster else "lightgbm"
        (folder / f"{key}.json").write_text(json.dumps(measured))
        if faster:
            _publish(fresh, folder / f"{key}.o", folder / f"{key}.o.sha256")
        else:
            (folder / f"{key}.failed").write_text(
                f"LightGBM's own predict is the faster on this model: {measured['lightgbm_rows_per_second']:,} rows/s "
                f"against {measured['lleaves_rows_per_second']:,} compiled\n")


def probe_rows(booster, n: int, seed: int = 0) -> np.ndarray:
    """``n`` rows on which every branch of the booster is taken, never on a threshold itself:
    each numeric feature drawn among the midpoints of its split thresholds (and one value beyond
    each end), each categorical one among the categories its splits name (and one they do not);
    10 % of the values missing."""
    rng = np.random.default_rng(seed)
    splits = booster.trees_to_dataframe()
    splits = splits[splits["split_feature"].notna()]
    names = booster.feature_name()
    rows = np.full((n, len(names)), np.nan)
    for j, name in enumerate(names):
        own = splits[splits["split_feature"] == name]
        if not len(own):
            continue
        if (own["decision_type"] == "==").any():  # categories, as "3||7||12"
            values = np.unique([int(float(v)) for t in own["threshold"] for v in str(t).split("||")])
            values = np.concatenate([values, [values.max() + 1]])
        else:
            cuts = np.unique(own["threshold"].to_numpy(dtype=float))
            values = np.concatenate([[cuts[0] - 1], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1]])
        rows[:, j] = values[rng.integers(0, len(values), n)]
    rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows


def figures(folder: Path, key: str) -> dict:
    """What the compile of ``key`` measured (empty when it measured nothing)."""
    try:
        return json.loads((folder / f"{key}.json").read_text())
    except (OSError, ValueError):
        return {}


def _log_figures(folder: Path, key: str, run_id: str) -> None:
    """The choice of trees and its figures into the model's MLflow run (``trees_*``): the engine
    that serves, the compile's seconds, each engine's rows per second, and the note when
    LightGBM serves. Never fails the caller: the run may be gone, the registry unreachable."""
    try:
        from mlflow.entities import Metric, RunTag
        from mlflow.tracking import MlflowClient

        from contraband.models.registry import tracking_uri

        found, note = figures(folder, key), _failed(folder, key)
        engine = found.get("engine", "lleaves") if (folder / f"{key}.o").exists() else "lightgbm"
        client = MlflowClient(tracking_uri=tracking_uri())  # the product's store, as the registering process's
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(f"trees_{name}", float(value), now, 0)
                                          for name, value in found.items() if isinstance(value, (int, float))],
                         tags=[] if note is None else [RunTag("trees_note", note[:5000])])
        client.set_tag(run_id, "trees_engine", engine)  # last: a reader that sees the engine sees all its figures
    except Exception:  # noqa: BLE001 - the figures are a record, not a step of serving
        pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="compile a booster's trees (run by the service and the batch)")
    parser.add_argument("step", choices=["watch", "compile"])
    parser.add_argument("model_file", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("key")
    parser.add_argument("--run", help="the MLflow run of the model being registered (its figures go there)")
    parser.add_argument("--option", choices=list(OPTIONS), default="lleaves", help="how to compile")
    args = parser.parse_args(argv)
    if args.step == "watch":
        return _watch(args.model_file, args.folder, args.key, args.run)
    try:
        _compile_into(args.model_file, args.folder, args.key, args.option)
    except MemoryError:
        print("out of memory", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - said in the note the watcher leaves
        print(f"{type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
