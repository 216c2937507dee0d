"""Benchmark: a manifest of one row repeated (a file of rejects) against a running ``contraband serve``.

Issue 40's must-show: a .csv.gz of about 160 kB that unpacks to 280,000 copies of one declaration
(every copy after the first rejected as a duplicate) answered in under 5 s, with under 300 MB more
memory in the worker, and a bounded answer (the count of rejected rows and the first 1,000; every
one only with ``format=csv``). Before the cap the same upload took 64 s, 1.5 GB and answered 204 MB.

Baseline in the same run, on the same worker: the one declaration alone (a manifest of one row),
whose time and memory are the fixed cost of an upload. Memory is the worker's peak resident set
during the request less its resident set before it (``/proc/PID/clear_refs`` resets the peak).

    python bench/rejects.py [--rows 200000] [--copies 280000] [--keep]
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

from scratch import scratch_folder
from service import serving, trained_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--copies", type=int, default=280_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_folder(args.keep, "contraband-bench-rejects-") as tmp:
        run(args, tmp)


def _memory(pid: int) -> dict[str, int]:
    """The worker's resident set now and at its peak (kB)."""
    status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return {name: int(status[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def _measured(url: str, headers: dict, pid: int, name: str, body: bytes, **params) -> dict:
    import httpx

    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak from now on
    before = _memory(pid)["VmRSS"]
    t = time.perf_counter()
    r = httpx.post(f"{url}/v1/manifests", files={"file": (name, body)}, headers=headers, params=params, timeout=600)
    seconds = time.perf_counter() - t
    r.raise_for_status()
    return {"seconds": seconds, "more_mb": (_memory(pid)["VmHWM"] - before) / 1024, "answer_mb": len(r.content) / 1e6,
            "summary": r.json()["summary"] if params.get("format") != "csv" else None}


def run(args, tmp: Path) -> None:
    import httpx

    from contraband.api.access import KeyRing
    from contraband.data.history import open_history

    env, _, fresh = trained_world(args.rows, tmp)
    store = open_history(tmp / "history.db")
    key = KeyRing(store).create("analyst", "bench")
    store.close()
    header, line = fresh.head(1).to_csv(index=False).splitlines()
    one = (header + "\n" + line + "\n").encode()
    repeated = gzip.compress((header + "\n" + (line + "\n") * args.copies).encode())
    headers = {"X-API-Key": key}
    with serving(env, tmp, 1) as url:
        pid = httpx.get(f"{url}/healthz").json()["worker"]
        warm = fresh.head(20).assign(declaration_id=lambda f: "WARM-" + f["declaration_id"].astype(str))
        httpx.post(f"{url}/v1/manifests", files={"file": ("warm.csv", warm.to_csv(index=False).encode())},
                   headers=headers, timeout=300).raise_for_status()
        base = _measured(url, headers, pid, "one.csv", one)
        big = _measured(url, headers, pid, "repeated.csv.gz", repeated)
        every = _measured(url, headers, pid, "repeated.csv.gz", repeated, format="csv")
    s = big["summary"]
    print(f"\na .csv.gz of {len(repeated) / 1e3:,.0f} kB: {args.copies:,} copies of one declaration "
          f"({s['scored']} scored, {s['rejected']:,} rejected, {s['rejected_shown']:,} echoed)")
    print(f"  JSON answer: {big['seconds']:.2f} s (target < 5 s), {big['more_mb']:,.0f} MB more in the worker "
          f"(target < 300 MB), answer {big['answer_mb']:.1f} MB")
    print(f"  every rejected row (format=csv, on request): {every['seconds']:.2f} s, {every['more_mb']:,.0f} MB more, "
          f"answer {every['answer_mb']:.1f} MB")
    print(f"  baseline, the one declaration alone: {base['seconds']:.3f} s, {base['more_mb']:,.0f} MB more, "
          f"answer {base['answer_mb'] * 1e3:.1f} kB")


if __name__ == "__main__":
    main()
