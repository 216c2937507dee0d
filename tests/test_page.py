"""The analyst's worksheet in a real headless Chromium (Debian's, driven by Playwright) against the
real server, at 1440x900 and on a phone (390x844), with screenshots: a transit rule written in the
form and previewed, a new manifest uploaded, the list paged, sorted, filtered and exported, a
reload that keeps the list, a case worked from the queue through the drawer, its outcome counted
in the figures, a supervisor's forms hidden from an analyst, and the drawer within the phone's
screen; all under the service's Content-Security-Policy (nothing refused) and with no script
error."""

from __future__ import annotations

import csv
import io
import shutil

import httpx
import pandas as pd
import pytest

from test_api import as_csv, fresh_manifest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--metrics-recording-only", "--disable-default-apps"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run make install (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def _open(browser, service, key: str, width: int, height: int):
    page = browser.new_page(accept_downloads=True, viewport={"width": width, "height": height})
    errors, refused = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(service.url + "/#manifest")
    page.fill("#api-key", service.keys[key])
    page.dispatch_event("#api-key", "change")
    page.wait_for_selector(f"#role:has-text('{key}')")
    return page, errors, refused


def _cells(page, table: str, key: str) -> list[str]:
    return [t.strip() for t in page.locator(f"{table} tbody td[data-key='{key}']").all_text_contents()]


def _shot(page, path) -> None:
    page.screenshot(path=str(path), full_page=False)
    assert path.read_bytes()[:8] == PNG


def test_the_whole_loop_on_a_desktop(service, world, browser, tmp_path):
    """Rule, upload, list, reload, queue, drawer, outcome, figures, at 1440x900."""
    key = service.keys["supervisor"]
    r = httpx.put(f"{service.url}/v1/policy", headers={"X-API-Key": key}, timeout=60,
                  json={"red": {"share": 0.05}, "yellow": {"share": 0.05}, "control_share": 0.01})
    assert r.status_code == 200, r.text
    manifest = fresh_manifest(world, 400, "LOOP")
    path = tmp_path / "loop.csv"
    path.write_bytes(as_csv(manifest))
    transit = manifest["transit_countries"].dropna().astype(str).str.split(";").explode().str.strip()
    country = transit[transit != ""].value_counts().index[0]
    through = manifest["transit_countries"].fillna("").astype(str).str.upper().str.split(";").map(
        lambda cs: country in [c.strip() for c in cs])
    page, errors, refused = _open(browser, service, "supervisor", 1440, 900)
    # 1. a transit rule, written in the page's own form and previewed
    page.click("#nav button[data-view='rules']")
    page.fill("#r-name", "the page's transit rule")
    page.select_option("#r-lane", "yellow")
    page.fill("#r-transit_countries", country)
    page.fill("#r-rationale", "transshipment to hide the origin")
    page.click("#r-preview")
    page.wait_for_selector("#rule-preview:has-text('It would hit')")
    page.click("#r-save")
    page.wait_for_selector("#rule-status:has-text('saved')")
    rule_id = page.text_content("#rule-status").split()[0]
    page.wait_for_selector(f"#rules tbody tr[data-rule='{rule_id}']")
    _shot(page, tmp_path / "rules.png")
    # 2. a new manifest: every row, 100 a page
    page.click("#nav button[data-view='manifest']")
    page.set_input_files("#file", str(path))
    page.click("#upload")
    page.wait_for_selector("#summary:has-text('loop.csv')")  # not the key's last manifest, shown at sign-in
    assert page.locator("#results tbody tr").count() == 100
    assert page.text_content("#shown").startswith("rows 1\u2013100 of 400")
    page.click("#next")
    assert page.text_content("#shown").startswith("rows 101\u2013200 of 400")
    page.click("#prev")
    risks = [float(x) for x in _cells(page, "#results", "risk_score")]
    assert risks == sorted(risks, reverse=True)
    page.click("#sort-risk_score")  # lowest risk first
    risks = [float(x) for x in _cells(page, "#results", "risk_score")]
    assert risks == sorted(risks)
    # the rule's hits: raised to yellow or left in a stronger lane, never released; the lane reason in the row
    lanes = dict(zip(page.locator("#results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)"),
                     _cells(page, "#results", "lane")))
    page.fill("#filter-route", country)  # the route shows the transit countries
    routes = [" \u2192 ".join(c for c in [r.origin_country, r.export_country if r.export_country != r.origin_country
                                           else None, *[t.strip() for t in str(r.transit_countries or "").split(";")
                                                         if r.transit_countries == r.transit_countries],
                                           r.destination_country] if c) for r in manifest.itertuples()]
    assert page.locator("#results tbody tr").count() == min(100, sum(country.lower() in r.lower() for r in routes))
    hit = set(manifest.loc[through, "declaration_id"])
    shown = page.locator("#results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    lanes.update(zip(shown, _cells(page, "#results", "lane")))
    assert hit and all(lanes[d] in ("red", "yellow") for d in hit if d in lanes)
    assert any(c.startswith(f"rule {rule_id}") for c in _cells(page, "#results", "lane_reason"))
    with page.expect_download() as download:
        page.click("#export")
    exported = list(csv.reader(io.StringIO(download.value.path().read_text())))
    assert len(exported) - 1 == page.locator("#results tbody tr").count()
    page.click("#clear-filters")
    page.fill("#filter-hs_code", str(manifest.at[0, "hs_code"])[:4])
    expected = int((manifest["hs_code"].astype(str).str[:4] == str(manifest.at[0, "hs_code"])[:4]).sum())
    assert page.locator("#results tbody tr").count() == min(100, expected)
    _shot(page, tmp_path / "manifest.png")
    # 3. a reload keeps the list (the service keeps the key's last manifest)
    page.reload()
    page.wait_for_selector("#results tbody tr")
    assert "loop.csv: 400 rows, 400 scored" in page.text_content("#summary")
    # 4. a case of this manifest from the queue, worked in the drawer
    page.click("#nav button[data-view='queue']")
    page.wait_for_selector("#queue tbody tr")
    cases = len(httpx.get(f"{service.url}/v1/cases", params={"state": "open"}, headers={"X-API-Key": key},
                          timeout=60).json()["cases"])
    shown = page.locator("#queue tbody tr").count()
    assert shown == min(cases, 100) and page.text_content("#queue-shown") == f"cases 1\u2013{shown} of {cases}"
    while True:  # the queue a page at a time: this manifest's first red case
        red = [r for r in page.locator("#queue tbody tr").all()
               if (r.get_attribute("data-id") or "").startswith("LOOP-") and "row-red" in (r.get_attribute("class") or "")]
        if red or page.is_disabled("#queue-next"):
            break
        page.click("#queue-next")
    assert red
    declaration = red[0].get_attribute("data-id")
    week = pd.Timestamp(manifest.set_index("declaration_id").at[declaration, "declaration_date"])
    week = f"{week - pd.Timedelta(days=week.day_of_week):%Y-%m-%d}"

    def seizures() -> int:
        page.click("#nav button[data-view='performance']")
        page.wait_for_selector("#weekly tbody tr", state="attached")
        rows = page.locator(f"#weekly tbody tr[data-week='{week}'][data-lane='red']").all()
        return sum(int(r.locator("td").nth(5).text_content().replace(",", "")) for r in rows)

    before = seizures()
    page.click("#nav button[data-view='queue']")
    page.wait_for_selector(f"#queue tbody tr[data-id='{declaration}']")
    page.click(f"#queue tbody tr[data-id='{declaration}']")
    page.wait_for_selector("#norms tbody tr")
    assert page.is_visible("#detail") and declaration in page.text_content("#detail-title")
    box = page.locator("#detail").bounding_box()
    assert box["x"] + box["width"] <= 1440 and box["y"] >= 0 and page.locator("#o-found").is_visible()
    assert page.text_content("#history").startswith("this exporter: ") and "_" not in page.text_content("#history")
    page.select_option("#o-found", "true")
    page.fill("#o-material", "dysprosium oxide")
    page.select_option("#o-concealment", "false_description")
    page.fill("#o-seized", "52000")
    page.click("#o-save")
    page.wait_for_selector("#outcome-status:has-text('outcome recorded for case')")
    assert "dysprosium oxide" in page.text_content("#outcomes")
    _shot(page, tmp_path / "drawer.png")
    page.click("#close-detail")
    # 5. the figures count it
    assert seizures() == before + 1
    assert page.locator("#weekly-chart rect").count() > 0 and page.text_content("#control-figures")
    _shot(page, tmp_path / "performance.png")
    case = httpx.get(f"{service.url}/v1/cases", params={"state": "inspected"}, headers={"X-API-Key": key}).json()
    assert any(c["declaration_id"] == declaration and c["concealment"] == "false_description" for c in case["cases"])
    page.click("#nav button[data-view='policy']")
    page.wait_for_selector("#policy-shown:has-text('Policy version')")
    assert page.is_visible("#policy-form")
    _shot(page, tmp_path / "policy.png")
    assert not errors, errors
    assert not refused, refused
    httpx.post(f"{service.url}/v1/rules/{rule_id}/retire", headers={"X-API-Key": key}, json={"reason": "test over"},
               timeout=60)


def test_on_a_phone_the_list_is_cards_the_drawer_fits_and_an_analyst_sees_no_supervisor_form(service, world,
                                                                                              browser, tmp_path):
    manifest = fresh_manifest(world, 120, "PHONE")
    path = tmp_path / "phone.csv"
    path.write_bytes(as_csv(manifest))
    page, errors, refused = _open(browser, service, "analyst", 390, 844)
    page.set_input_files("#file", str(path))
    page.click("#upload")
    page.wait_for_selector("#summary:has-text('phone.csv')")
    first = page.locator("#results tbody tr").first
    assert first.locator("td").first.evaluate("td => getComputedStyle(td).display") == "flex"  # a card
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    first.click()
    page.wait_for_selector("#norms tbody tr")
    box = page.locator("#detail").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1 and box["width"] >= 380
    assert page.locator("#o-save").is_visible() and not page.locator("#o-correction").is_visible()
    _shot(page, tmp_path / "phone_drawer.png")
    page.click("#close-detail")
    for view, form in (("rules", "#rule-form"), ("policy", "#policy-form")):
        page.click(f"#nav button[data-view='{view}']")
        assert not page.locator(form).is_visible()
    assert not errors, errors
    assert not refused, refused
