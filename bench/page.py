"""Benchmark: the analyst's worksheet in Chromium against a running ``contraband serve``.

Targets (issue 39), measured in the browser from the click to the rendered rows:
- the demo-sized manifest (the last month of the world, about 8,000 declarations) uploaded and
  its list shown in 1.5 s or less;
- the same manifest uploaded again (every declaration keeps its lane) in 2 s or less;
- the queue (every open case of the manifest, about 650 under the policy below) opened in 0.5 s
  or less.

Set-up: a synthetic world (``--rows``, default 200,000 declarations over 25 months, as the demo's),
its first 24 months trained and registered as the champion, its history in the store; the policy
red 4 %, yellow 4 %, control 1 %. Baseline in the same process: the same requests sent with httpx
(no browser, no rendering), each right after its browser run.

    python bench/page.py [--rows 200000] [--workers 2] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from scratch import scratch_folder
from service import serving, trained_world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("chromium is not installed: run make install")
    with scratch_folder(args.keep, "contraband-bench-page-") as tmp:
        run(args, tmp)


def run(args, tmp: Path) -> None:
    import httpx
    from playwright.sync_api import sync_playwright

    from contraband.api.access import KeyRing
    from contraband.data.history import open_history

    env, _, fresh = trained_world(args.rows, tmp)
    store = open_history(tmp / "history.db")
    key = KeyRing(store).create("supervisor", "bench")
    store.close()
    manifest = tmp / "manifest.csv"
    fresh.to_csv(manifest, index=False)
    baseline = fresh.assign(declaration_id="B-" + fresh["declaration_id"].astype(str)).to_csv(index=False).encode()
    headers = {"X-API-Key": key}
    with serving(env, tmp, args.workers) as url:
        httpx.put(f"{url}/v1/policy", headers=headers, timeout=60,
                  json={"red": {"share": 0.04}, "yellow": {"share": 0.04}, "control_share": 0.01}).raise_for_status()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox",
                                                                        "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url + "/#manifest")
            page.fill("#api-key", key)
            page.dispatch_event("#api-key", "change")
            page.wait_for_selector("#role:has-text('supervisor')")
            figures = {}
            for name in ("upload", "re-upload"):
                page.set_input_files("#file", str(manifest))
                page.evaluate("document.getElementById('summary').textContent = ''")
                t = time.perf_counter()
                page.click("#upload")
                page.wait_for_selector("#summary:has-text('scored')", timeout=120_000)
                page.wait_for_selector("#results tbody tr")
                figures[name] = time.perf_counter() - t
                t = time.perf_counter()  # the baseline: the same request, its declarations new (then re-sent)
                r = httpx.post(f"{url}/v1/manifests", files={"file": ("baseline.csv", baseline)}, headers=headers,
                               timeout=120)
                r.raise_for_status()
                figures[f"{name} (httpx)"] = time.perf_counter() - t
            cases = httpx.get(f"{url}/v1/cases", params={"state": "open", "limit": 1000}, headers=headers,
                              timeout=60).json()["cases"]
            page.select_option("#queue-state", "open")
            t = time.perf_counter()
            page.click("#nav button[data-view='queue']")
            page.wait_for_function(f"() => document.querySelectorAll('#queue tbody tr').length >= {len(cases)}")
            figures["queue"] = time.perf_counter() - t
            t = time.perf_counter()
            httpx.get(f"{url}/v1/cases", params={"state": "open"}, headers=headers, timeout=60).raise_for_status()
            figures["queue (httpx)"] = time.perf_counter() - t
            browser.close()
    print(f"\nmanifest of {len(fresh):,} declarations, from the click to the list (Chromium, 1440x900):")
    for name, target in (("upload", 1.5), ("re-upload", 2.0)):
        print(f"  {name}: {figures[name]:.2f} s (target <= {target} s); the same request with httpx: "
              f"{figures[name + ' (httpx)']:.2f} s; page / httpx = {figures[name] / figures[name + ' (httpx)']:.2f}x")
    print(f"  queue of {len(cases):,} open cases: {figures['queue']:.3f} s (target <= 0.5 s); the same request with "
          f"httpx: {figures['queue (httpx)']:.3f} s")


if __name__ == "__main__":
    main()
