"""Benchmark: the analysts' service, a running ``contraband serve`` on 127.0.0.1.

Targets (issue 8):
- a 10,000-row manifest uploaded (multipart CSV, answered in JSON with every row, reasons and
  the declaration) in under 1.5 s;
- single-declaration JSON scoring at a steady 100 requests per second: p50 under 8 ms, p99
  under 25 ms (latency measured from each request's scheduled time, so a stalled server cannot
  hide its queue).

Goals (issue 40), "the service never waits on a batch": the same load (single declarations at
``--during-rate`` requests per second, default 30: a busy targeting desk; outcome writes, ``POST
/v1/outcomes`` at ``--outcome-rate``; ``GET /healthz`` at 10 per second) runs on the quiet
service for ``--during-seconds`` (at most 30), then through the whole of two batch runs of
``contraband score`` (its defaults) into the service's store: ``--batch-rows`` (default 300,000)
new declarations, then the same declarations re-sent with other values (amendments). Each
request counts in the phase its scheduled time fell in: the batch recording its rows, moving the
series they changed (watched in the store), or scoring after. Goals during a batch: single
declaration p99 under 250 ms, ``/healthz`` max under 100 ms, no failed request.

Set-up: a synthetic world (``--rows``, default 300,000 declarations over 25 months), its first
24 months trained and registered as the champion in a SQLite MLflow store, its history in the
store; the requests are the last month's declarations under new ids (each one is recorded, as in
service). Baselines in the same process: the same manifest and the same declarations scored
in-process (``load_declarations`` + ``scores`` on the same store copy), i.e. without HTTP,
multipart, JSON or the service's checks.

    python bench/service.py [--rows 300000] [--seconds 30] [--rate 100] [--workers 2]
                            [--batch-rows 300000] [--during-rate 30] [--outcome-rate 10]
                            [--during-seconds 30] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from scratch import scratch_folder

CONTRABAND = Path(sys.executable).parent / "contraband"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values, q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the steady-rate run")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--uploads", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="contraband serve --workers (one per core)")
    parser.add_argument("--batch-rows", type=int, default=300_000, help="declarations of the batch run alongside "
                                                                         "(0: no run during a batch)")
    parser.add_argument("--outcome-rate", type=float, default=10.0, help="outcome writes per second during the batch")
    parser.add_argument("--during-rate", type=float, default=30.0, help="single declarations per second during the batch")
    parser.add_argument("--during-seconds", type=float, default=30.0, help="how long the quiet run of that load lasts")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_folder(args.keep, "contraband-bench-service-") as tmp:
        run(args, tmp)


def trained_world(rows: int, tmp: Path):
    """A synthetic world of ``rows`` declarations over 25 months, its first 24 trained and
    registered as the champion (SQLite MLflow store in ``tmp``), their history recorded; returns
    the environment of the service, the history and the last month's fresh declarations."""
    import pandas as pd

    from contraband.data.contract import OUTCOME_FIELDS, is_truth_column
    from contraband.data.world import WorldConfig, generate, write

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db", "CONTRABAND_HISTORY": str(tmp / "history.db"),
           "CONTRABAND_MODEL_CACHE": str(tmp / "cache")}
    world = generate(WorldConfig(rows=rows, months=25, seed=3))
    last = pd.to_datetime(world["declaration_date"]).max().to_period("M").start_time
    history = world[pd.to_datetime(world["declaration_date"]) < last]
    fresh = world[pd.to_datetime(world["declaration_date"]) >= last]
    fresh = fresh[[c for c in fresh.columns if c not in OUTCOME_FIELDS and not is_truth_column(c)]].copy()
    write(history, tmp / "history.parquet")
    t = time.perf_counter()
    subprocess.run([str(CONTRABAND), "train", "--data", str(tmp / "history.parquet")], env=env, cwd=tmp, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"set-up: {len(history):,} declarations trained and recorded in {time.perf_counter() - t:.0f} s; "
          f"{len(fresh):,} fresh declarations")
    return env, history, fresh


@contextmanager
def serving(env: dict, tmp: Path, workers: int):
    """``contraband serve`` on a free port of 127.0.0.1 until ready; yields its URL, stops it after."""
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / "serve.log", "wb")
    server = subprocess.Popen([str(CONTRABAND), "serve", "--port", str(port), "--workers", str(workers)], env=env,
                              cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def run(args, tmp: Path) -> None:
    import httpx
    import pandas as pd

    from contraband.api.access import KeyRing
    from contraband.data.history import open_history

    env, history, fresh = trained_world(args.rows, tmp)
    store = open_history(tmp / "history.db")
    key = KeyRing(store).create("analyst", "bench")
    store.close()
    shutil.copy(tmp / "history.db", tmp / "baseline.db")  # the in-process baseline's own copy

    manifest = fresh.head(10_000).copy()
    manifest["declaration_id"] = "UP-" + manifest["declaration_id"].astype(str)
    csv = manifest.to_csv(index=False).encode()
    singles = fresh.iloc[10_000:].copy() if len(fresh) > 12_000 else fresh.copy()
    records = [{k: (None if pd.isna(v) else (f"{v:%Y-%m-%d}" if isinstance(v, pd.Timestamp) else v))
                for k, v in r.items()} for r in singles.astype(object).to_dict("records")]

    with serving(env, tmp, args.workers) as url:
        headers = {"X-API-Key": key}
        with httpx.Client(timeout=60) as http:
            upload_times = []
            for i in range(args.uploads):
                data = csv.replace(b"UP-", f"UP{i}-".encode())  # new declarations each time, as in service
                t = time.perf_counter()
                r = http.post(f"{url}/v1/manifests", files={"file": ("manifest.csv", data)}, headers=headers)
                upload_times.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["summary"]["scored"] == len(manifest), r.text[:300]
            size = len(r.content)
        steady = _steady(url, headers, records, args.rate, args.seconds)
        during = _during_batches(url, headers, records, history, args, env, tmp, tmp / "history.db") \
            if args.batch_rows else None

    base_upload, base_single = _baseline(tmp, env, csv, records[:1000])
    upload = statistics.median(upload_times[1:])  # the first warms the caches
    print(f"\nmanifest upload, {len(manifest):,} rows ({len(csv) / 2**20:.1f} MB CSV in, {size / 2**20:.1f} MB JSON out), "
          f"median of {len(upload_times) - 1} after one warm-up: {upload:.3f} s (max {max(upload_times[1:]):.3f} s; "
          f"target < 1.5 s)")
    print(f"  in-process baseline (read + contract + record + score, no HTTP): {base_upload:.3f} s; "
          f"service / baseline = {upload / base_upload:.2f}x")
    lat = steady["latency"]
    print(f"\nsingle declaration at a steady {args.rate:.0f} req/s for {args.seconds:.0f} s ({args.workers} workers): "
          f"{len(lat):,} requests, "
          f"{steady['errors']} errors, achieved {steady['rate']:.1f} req/s")
    print(f"  latency from the scheduled time: p50 {_pct(lat, 50) * 1e3:.2f} ms, p90 {_pct(lat, 90) * 1e3:.2f} ms, "
          f"p99 {_pct(lat, 99) * 1e3:.2f} ms, max {max(lat) * 1e3:.1f} ms (targets p50 < 8, p99 < 25)")
    print(f"  in-process baseline, one declaration (contract + record + score): p50 {_pct(base_single, 50) * 1e3:.2f} ms, "
          f"p99 {_pct(base_single, 99) * 1e3:.2f} ms; service p50 / baseline p50 = "
          f"{_pct(lat, 50) / _pct(base_single, 50):.2f}x")
    if during:
        _print_phases(during, args)


def _print_phases(phases: dict, args) -> None:
    """One row per phase: single declarations, /healthz and outcome writes, as measured."""
    print(f"\nduring batches of {args.batch_rows:,} declarations (contraband score, its defaults) into the service's "
          f"store: single declarations at {args.during_rate:.0f} req/s, outcome writes at {args.outcome_rate:.0f} "
          f"req/s, /healthz at 10 req/s; latency from each request's scheduled time (goals during a batch: "
          f"single p99 < 250 ms, /healthz max < 100 ms)")
    for name, what in (("new", "new declarations"),
                       ("amendments", "amendments (the same declarations re-sent with other values)")):
        print(f"  batch of {what}: {phases[name]['seconds']:.1f} s ({phases[name]['said'][:150]})")
    print(f"  {'phase':<34} {'s':>6} {'single n':>8} {'errors':>6} {'p50':>7} {'p99':>7} {'max':>7} | {'healthz max':>11} "
          f"| {'outc. n':>7} {'p50':>7} {'p99':>7} {'max':>7}")
    rows = [("quiet", "quiet", None)] + [(f"{name}: {part}", name, part) for name in ("new", "amendments")
                                           for part in ("recording", "series move", "scoring")]
    for label, name, part in rows:
        phase = phases[name]
        cells, errors = {}, 0
        for what, result in phase["results"].items():
            keep = [i for i, due in enumerate(result["due"]) if part is None or _phase_of(due, phase["windows"]) == part]
            cells[what] = [result["latency"][i] for i in keep]
            errors += sum(result["failed"][i] for i in keep)
        span = phase["seconds"] if part is None else _span(phase["windows"], part)

        def ms(values, q):
            return f"{(_pct(values, q) if q < 100 else max(values)) * 1e3:7.1f}" if values else f"{'-':>7}"
        single, health, outcomes = cells.get("single", []), cells.get("healthz", []), cells.get("outcomes", [])
        print(f"  {label:<34} {span:6.1f} {len(single):8,} {errors:>6} "
              f"{ms(single, 50)} {ms(single, 99)} {ms(single, 100)} | {ms(health, 100):>11} | {len(outcomes):7,} "
              f"{ms(outcomes, 50)} {ms(outcomes, 99)} {ms(outcomes, 100)}")


def _span(windows: dict, part: str) -> float:
    """Seconds a phase of a batch lasted (the series move counts apart from the recording)."""
    start, recorded = windows["start"], windows["recorded"]
    move = windows.get("series move")
    moved = (move[1] - move[0]) if move else 0.0
    if part == "series move":
        return moved
    if part == "recording":
        return recorded - start - moved
    return windows.get("end", recorded) - recorded


def _during_batches(url, headers, records, history, args, env, tmp, store_path: Path) -> dict:
    """The same load (single declarations, outcome writes, ``/healthz`` probes) on the quiet
    service, then for the whole of each of two batch runs into the service's store (``contraband
    score`` with its defaults): one of new declarations, then the same declarations re-sent with
    other values (amendments). Each request is put in the phase its scheduled time fell in: the
    batch recording its rows, moving its series (seen in the store), or scoring after."""
    batch = history.sample(args.batch_rows, replace=len(history) < args.batch_rows, random_state=5)
    batch = batch.drop(columns=[c for c in ("inspected", "contraband", "seized_value_usd", "outcome_date")
                                if c in batch.columns] + [c for c in batch.columns if c.startswith("truth_")])
    batch = batch.assign(declaration_id=[f"BATCH-{i}" for i in range(len(batch))])
    batch.to_csv(tmp / "new.csv", index=False)
    batch.assign(gross_weight_kg=batch["gross_weight_kg"] * 1.01 + 1).to_csv(tmp / "amendments.csv", index=False)
    del batch
    # outcomes for the declarations the steady run above recorded (ONE-0 ... ONE-2999)
    outcome_rows = [{"declaration_id": f"ONE-{i}", "inspected": True, "contraband_found": i % 2 == 0}
                    for i in range(3_000)]
    phases: dict[str, dict] = {}

    def run(name: str, job) -> dict:
        stop, results, windows = threading.Event(), {}, {}

        def stream(what, **kw):
            results[what] = _steady(url, headers, stop=stop, **kw)

        streams = [threading.Thread(target=stream, args=("single",),
                                    kwargs=dict(records=records, rate=args.during_rate, prefix=name)),
                   threading.Thread(target=stream, args=("outcomes",),
                                    kwargs=dict(records=outcome_rows, rate=args.outcome_rate, path="/v1/outcomes",
                                                body=lambda r, i: {"outcomes": [r]})),
                   threading.Thread(target=stream, args=("healthz",),
                                    kwargs=dict(records=[None], rate=10, path="/healthz", method="GET"))]
        for th in streams:
            th.start()
        t0 = time.perf_counter()
        said = job(windows)
        seconds = time.perf_counter() - t0
        stop.set()
        for th in streams:
            th.join()
        return {"results": results, "windows": windows, "seconds": seconds, "said": said}

    phases["quiet"] = run("QUIET", lambda windows: time.sleep(min(args.during_seconds, 30)) or "")
    for name in ("new", "amendments"):
        phases[name] = run(name.upper(), lambda windows, name=name: _batch(tmp / f"{name}.csv", env, tmp, store_path,
                                                                           windows))
    return phases


def _batch(path: Path, env: dict, tmp: Path, store_path: Path, windows: dict) -> str:
    """``contraband score`` of ``path`` into the service's store, watching the store: when its
    recording's series start moving and when it is complete (``windows``, perf_counter times)."""
    import sqlite3

    t0 = time.perf_counter()
    job = subprocess.Popen([str(CONTRABAND), "score", str(path), "-o", str(tmp / "batch-out.csv"), "--progress", "none"],
                           env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watch = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5)
    seen_recording = False
    while job.poll() is None:
        state = watch.execute("SELECT state, progress FROM ingests WHERE source LIKE 'score:%' "
                              "ORDER BY ingest DESC LIMIT 1").fetchone()
        now = time.perf_counter()
        if state is not None and state[0] is not None:
            seen_recording = True
            if state[1] is not None:
                windows.setdefault("series move", [now, now])[1] = now
        elif seen_recording and "recorded" not in windows:
            windows["recorded"] = now
        time.sleep(0.02)
    watch.close()
    windows["end"] = time.perf_counter()
    windows.setdefault("recorded", windows["end"])
    windows["start"] = t0
    said = job.communicate()[0]
    return f"exit {job.returncode}; " + " ".join(line for line in said.splitlines() if line.startswith("scored "))


def _phase_of(due: float, windows: dict) -> str:
    move = windows.get("series move")
    if move and move[0] - 0.02 <= due <= move[1] + 0.02:
        return "series move"
    return "recording" if due < windows.get("recorded", float("inf")) else "scoring"


def _steady(url, headers, records, rate, seconds=None, path="/v1/declarations/score", prefix="ONE", body=None,
            stop=None, method="POST"):
    """Open loop: request i is due at start + i / rate, sent by whichever of a few keep-alive
    connections is free; latency counts from the due time. Runs for ``seconds`` or until
    ``stop`` is set. The client is the standard library's (a lighter load generator than httpx
    on the same two cores). By default each request scores one declaration (``records[i]`` under
    the id ``{prefix}-{i}``); ``body(record, i)`` makes another request of ``path``. Returns the
    latencies, each request's due time, the errors and the rate achieved."""
    import http.client
    import json
    from urllib.parse import urlsplit

    host = urlsplit(url)
    n = int(rate * seconds) if seconds is not None else None
    sys.setswitchinterval(0.0005)  # the client's threads must not wait 5 ms for the GIL: that is not the server's time
    start = time.perf_counter() + 0.5
    latencies, dues, failed, errors, lock, nxt = [], [], [], [0], threading.Lock(), [0]
    send_headers = {**headers, "Content-Type": "application/json"}

    def worker():
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            due = start + i / rate
            if (n is not None and i >= n) or (stop is not None and stop.is_set()):
                connection.close()
                return
            if method == "GET":
                data = None
            else:
                payload = body(records[i % len(records)], i) if body else \
                    {"declarations": [{**records[i % len(records)], "declaration_id": f"{prefix}-{i}"}]}
                data = json.dumps(payload)
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            connection.request(method, path, body=data, headers=send_headers)
            response = connection.getresponse()
            response.read()
            took = time.perf_counter() - due
            with lock:
                latencies.append(took)
                dues.append(due)
                failed.append(response.status != 200)
                errors[0] += response.status != 200

    threads = [threading.Thread(target=worker) for _ in range(8 if method == "POST" else 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"latency": latencies, "due": dues, "failed": failed, "errors": errors[0], "rate": len(latencies) / (time.perf_counter() - start)}


def _baseline(tmp, env, csv: bytes, records):
    """The same work in this process, on a copy of the store: no HTTP, no JSON."""
    import pandas as pd

    from contraband.data.history import open_history
    from contraband.data.load import load_declarations
    from contraband.models.scoring import refresh_budget_reference, scores
    from contraband.models.tracking import load_detector

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    detector = load_detector("models:/contraband-detector@champion")
    store = open_history(tmp / "baseline.db")
    refresh_budget_reference(detector, store)
    times = []
    for i in range(4):
        data = csv.replace(b"UP-", f"B{i}-".encode())
        t = time.perf_counter()
        loaded = load_declarations(data, source="manifest.csv")
        scores(detector, loaded.columns, store, budget=0.05, exploration=0.1, flag_by="budget")
        times.append(time.perf_counter() - t)
    single = []
    for i, record in enumerate(records):
        t = time.perf_counter()
        loaded = load_declarations(pd.DataFrame([{**record, "declaration_id": f"BASE-{i}"}]), source="request")
        scores(detector, loaded.columns, store, budget=0.05, exploration=0.0, flag_by="auto")
        single.append(time.perf_counter() - t)
    store.close()
    return statistics.median(times[1:]), single


if __name__ == "__main__":
    main()
