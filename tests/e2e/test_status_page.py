"""The status page in real Chromium, over loopback, for a sandbox run with one fault.

The sandbox and the probe run as in the other end-to-end tests (fake time, real HTTP); the probe's HTTP
app serves the status page from a real uvicorn server, and Debian's Chromium (through chromedriver and
Selenium) reads it as a person would. The fault (Bergen's vendor receipts without storing: the
2020-2023 failure) is switched on and the test waits, with a bound, until the national grid shows Bergen's
portal route failing; then it checks the vendor and municipality views, runs axe-core on every view
(no serious or critical violation allowed), writes a screenshot of each and checks that the restricted
views refuse without credentials.

Needs the Debian packages ``chromium`` and ``chromium-driver``, and axe-core's script from the
``axe-core-python`` package.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.resources
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from probe.http.app import create_app
from probe.http.server import HttpServer
from probe.service import status_site
from tests.e2e.harness import Harness, harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TARGET = "4601"  # Bergen: vendor nordlys, portal final hop registered (read-back)
WITNESS = "0301"  # Oslo: vendor fjordsys, stays delivered
FAULT = "vendor.receipt_without_store"
AUTH = ("status-viewer", "e2e-password-not-a-secret-elsewhere")
HEADER = "Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
# Fake seconds the fault may take to show (a deadline and a poll, with room), stepped 10 s at a time.
BOUND_SECONDS = 900
SERIOUS = {"serious", "critical"}


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} is not installed (Debian packages chromium and chromium-driver)")
    return found


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = _binary("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(_binary("chromedriver")))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def axe_violations(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (its bundled script, run in the page)."""
    script = importlib.resources.files("axe_core_python").joinpath("axe.min.js").read_text(encoding="utf-8")
    driver.execute_script(script)
    result: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(done, (e) => done({error: String(e)}));"
    )
    assert "error" not in result, result
    violations: list[dict[str, Any]] = result["violations"]
    return violations


async def visit(driver: webdriver.Chrome, url: str) -> None:
    """Load ``url`` in the browser (off the event loop, which serves the page)."""
    await asyncio.to_thread(driver.get, url)


async def check_page(driver: webdriver.Chrome, name: str, shots: Path) -> None:
    """Accessibility (no serious or critical violation) and a screenshot of the page as it is."""
    violations = await asyncio.to_thread(axe_violations, driver)
    serious = [
        (v["id"], v["impact"], [node["target"] for node in v["nodes"]][:5])
        for v in violations
        if v.get("impact") in SERIOUS
    ]
    shot = shots / f"{name}.png"
    await asyncio.to_thread(driver.save_screenshot, str(shot))
    print(f"status page screenshot: {shot}")  # the artefact's path, for whoever looks
    assert not serious, f"{name}: {serious}"


def state_of(driver: webdriver.Chrome, selector: str) -> str | None:
    """The ``data-state`` of the first element matching ``selector`` (``None`` if there is none)."""
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].get_attribute("data-state") if found else None


async def wait_for_state(
    probe: Harness, driver: webdriver.Chrome, url: str, selector: str, state: str
) -> None:
    """Step fake time until the page at ``url`` shows ``state`` on ``selector``, within the bound."""
    seen: str | None = None
    for _ in range(BOUND_SECONDS // 10):
        await probe.run_for(10, step=2)
        await visit(driver, url)
        seen = await asyncio.to_thread(state_of, driver, selector)
        if seen == state:
            return
    raise AssertionError(f"{url} showed {selector} as {seen}, not {state}, after {BOUND_SECONDS} fake s")


async def test_the_status_page_shows_one_fault_in_every_view_accessibly(
    tmp_path: Path, browser: webdriver.Chrome
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with harness(tmp_path, f"{TARGET},{WITNESS}") as probe:
        site = status_site(probe.runtime, AUTH)
        app = create_app(lambda: b"", lambda: {"ok": True}, probe.runtime.jwks, AUTH, status=site)
        server = HttpServer("127.0.0.1:0")
        await server.start(app)
        base = server.url
        try:
            national = f"{base}/status"
            # Healthy first: every route delivers.
            await wait_for_state(
                probe,
                browser,
                national,
                f'[data-channel="portal"] [data-municipality="{WITNESS}"]',
                "delivering",
            )
            await wait_for_state(
                probe,
                browser,
                national,
                f'[data-channel="portal"] [data-municipality="{TARGET}"]',
                "delivering",
            )
            await probe.fault(FAULT, TARGET)
            await wait_for_state(
                probe, browser, national, f'[data-channel="portal"] [data-municipality="{TARGET}"]', "broken"
            )
            assert (
                state_of(browser, f'[data-channel="portal"] [data-municipality="{WITNESS}"]') == "delivering"
            )
            assert (
                state_of(browser, f'[data-channel="altinn"] [data-municipality="{TARGET}"]') == "delivering"
            )
            legend = browser.find_element(By.CSS_SELECTOR, "ul.legend").text
            assert "✗ Feiler" in legend
            assert "✓ Leverer" in legend
            await check_page(browser, "national", shots)
            await visit(browser, f"{national}?lang=en")
            assert "Share of routes delivering" in browser.page_source
            await check_page(browser, "national-en", shots)

            # The restricted views refuse without credentials, over the real socket.
            async with httpx.AsyncClient(base_url=base) as client:
                for path in ("/status/vendor/nordlys", f"/status/municipality/{TARGET}"):
                    refused = await client.get(path)
                    assert refused.status_code == 401, path
                    assert "Bergen" not in refused.text
                    assert (await client.get(path, headers={"Authorization": HEADER})).status_code == 200
                assert (await client.get("/status")).status_code == 200

            # With credentials (sent by the browser on every request), the vendor and municipality views.
            await asyncio.to_thread(browser.execute_cdp_cmd, "Network.enable", {})
            await asyncio.to_thread(
                browser.execute_cdp_cmd, "Network.setExtraHTTPHeaders", {"headers": {"Authorization": HEADER}}
            )
            await visit(browser, f"{base}/status/vendor/nordlys")
            assert state_of(browser, f'[data-route="portal/{TARGET}"]') == "broken"
            assert state_of(browser, f'[data-route="altinn/{TARGET}"]') == "delivering"
            await check_page(browser, "vendor", shots)
            await visit(browser, f"{base}/status/vendor/fjordsys")
            assert state_of(browser, f'[data-route="portal/{WITNESS}"]') == "delivering"

            await visit(browser, f"{base}/status/municipality/{TARGET}")
            assert state_of(browser, 'section[data-channel="portal"]') == "broken"
            assert state_of(browser, 'section[data-channel="altinn"]') == "delivering"
            portal = browser.find_element(By.CSS_SELECTOR, 'section[data-channel="portal"]')
            assert portal.find_elements(By.TAG_NAME, "svg"), "no hop timeline chart"
            lost = [
                row for row in portal.find_elements(By.CSS_SELECTOR, "tr[data-canary]") if "tapt" in row.text
            ]
            assert lost, "no lost canary in the timeline"
            assert "registrert i fagsystem" in lost[0].text
            incidents = portal.find_elements(By.CSS_SELECTOR, "[data-incident]")
            assert len(incidents) == 1, "one open incident on Bergen's portal route"
            assert "KS oppbevarer meldingene til" in incidents[0].text
            runbook = incidents[0].find_element(By.TAG_NAME, "a").get_attribute("href")
            assert runbook is not None
            assert runbook.endswith("#kanari-receipt-without-record")
            await check_page(browser, "municipality", shots)
            for page in ("national", "national-en", "vendor", "municipality"):
                assert (shots / f"{page}.png").stat().st_size > 0
        finally:
            await server.close()
            await site.close()
