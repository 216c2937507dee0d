"""The analyst's page in a real headless Chromium (Debian's, driven by Playwright) against the
real server: upload a manifest, see the flagged rows, open one, record an outcome, download the
scored CSV, all under the service's Content-Security-Policy (nothing refused)."""

from __future__ import annotations

import csv
import io
import shutil

import httpx
import pytest

from test_api import as_csv, fresh_manifest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--metrics-recording-only", "--disable-default-apps"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run make install (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def test_upload_flagged_rows_evidence_outcome_and_download(service, world, browser, tmp_path):
    manifest = fresh_manifest(world, 300, "PAGE")
    path = tmp_path / "november.csv"
    path.write_bytes(as_csv(manifest))
    page = browser.new_page(accept_downloads=True)
    errors, refused = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(service.url + "/")
    page.fill("#api-key", service.keys["analyst"])
    page.set_input_files("#file", str(path))
    page.fill("#budget", "5")
    page.click("#upload")
    page.wait_for_selector("#results tbody tr")
    assert "300 rows, 300 scored, 0 rejected; 15 flagged" in page.text_content("#summary")
    first = page.locator("#results tbody tr").first
    assert "flagged" in first.get_attribute("class") and first.locator("td.reason").text_content().strip()
    page.select_option("#filter-flag", "flagged")
    assert page.locator("#results tbody tr").count() == 15
    assert page.locator("#results tbody tr.flagged").count() == 15
    hs = manifest.at[0, "hs_code"]
    page.select_option("#filter-flag", "all")
    page.fill("#filter-hs", str(hs)[:4])
    assert page.locator("#results tbody tr").count() == int((manifest["hs_code"].astype(str).str[:4] == str(hs)[:4]).sum())
    page.fill("#filter-hs", "")
    page.click("#sort-risk")  # lowest risk first
    last = page.locator("#results tbody tr").first.get_attribute("data-id")
    page.click("#sort-risk")
    row = page.locator("#results tbody tr").first
    chosen = row.get_attribute("data-id")
    assert chosen != last
    row.click()
    page.wait_for_selector("#norms tbody tr")
    assert "USD/kg" in page.text_content("#norms") and chosen in page.text_content("#detail-title")
    page.select_option("#o-found", "true")
    page.fill("#o-material", "dysprosium oxide")
    page.fill("#o-seized", "41000")
    page.click("#o-save")
    page.wait_for_selector("#outcome-status:has-text('outcome recorded')")
    recorded = httpx.get(f"{service.url}/v1/outcomes", params={"declaration_id": chosen},
                         headers={"X-API-Key": service.keys["analyst"]}).json()["outcomes"]
    assert recorded[0]["contraband_found"] is True and recorded[0]["material"] == "dysprosium oxide"
    assert "dysprosium oxide" in page.text_content("#outcomes")
    page.click("#close-detail")
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "downloaded.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "november_scored.csv"
    table = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert len(table) == 300 and table[0]["rank"] == "1" and sum(t["flagged"] == "True" for t in table) == 15
    assert not errors, errors
    assert not refused, refused  # the page runs whole under the service's Content-Security-Policy
