"""The HTML report in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium, never
downloading anything): it loads from file:// offline without console errors, a click on a column header sorts the
rows by that column (again: reversed), the raw switch sorts by raw scores, and a cell's link reaches its
provenance. Without the browser the test skips, unless BRAINBENCH_REQUIRE_SERVICES=1 (CI), where it fails."""

import os
import shutil
from pathlib import Path

import pytest

from brainbench.registry.catalog import get_leaderboard
from brainbench.results.board import build_board
from brainbench.results.report import to_html, write_report
from brainbench.results.result import Interval
from brainbench.results.store import ResultsStore

CHROMIUM = os.environ.get("BRAINBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BRAINBENCH_CHROMEDRIVER", "/usr/bin/chromedriver")


def _missing() -> str | None:
    lacking = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).is_file() and os.access(p, os.X_OK))]
    if lacking:
        return f"{' and '.join(lacking)} not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e .[test])"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why:
        if os.environ.get("BRAINBENCH_REQUIRE_SERVICES") == "1":
            pytest.fail(f"BRAINBENCH_REQUIRE_SERVICES=1 but {why}")
        pytest.skip(why)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a browser or a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which(CHROMEDRIVER) or CHROMEDRIVER),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


# model -> (normalised, raw): the normalised and raw orders differ, so the switch is seen to change the sort
SCORES = {"m_a": (0.30, 0.25), "m_b": (0.70, 0.10), "m_c": (0.50, 0.40), "m_d": (0.90, 0.05)}


@pytest.fixture
def page(generator_results, tmp_path):
    store = ResultsStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    early = generator_results["synthetic.early"]
    ids = {}
    for model, (normalised, raw) in SCORES.items():
        interval = Interval(level=0.95, low=raw - 0.01, high=raw + 0.01, standard_error=0.01, n_boot=50,
                            over="stimuli", seed=0, normalised_low=normalised - 0.02, normalised_high=normalised + 0.02)
        ids[model] = store.add(early.model_copy(update={"model": model, "normalised": normalised, "raw": raw,
                                                        "interval": interval}))
    run = store.start_run(leaderboard="synthetic", n_planned=1)
    store.add_failure(run_id=run, cell_key="k", model="m_failed", benchmark="synthetic.early",
                      error=RuntimeError("out of memory"), traceback="Traceback (most recent call last): boom")
    board = build_board(get_leaderboard("synthetic"), store)
    path = write_report(to_html(board, store), tmp_path / "board.html")
    return path, ids


def _order(driver) -> list[str]:
    return [row.get_attribute("data-model") for row in driver.find_elements("css selector", "#board tbody tr")]


def _header(driver, text):
    heads = driver.find_elements("css selector", "#board thead th")
    return next(th for th in heads if th.text.strip(" ▲▼") == text)


def test_the_page_sorts_switches_and_links_in_chromium(browser, page):
    path, ids = page
    browser.get(path.as_uri())
    assert browser.title == "leaderboard synthetic"
    by_normalised = sorted(SCORES, key=lambda m: SCORES[m][0])
    by_raw = sorted(SCORES, key=lambda m: SCORES[m][1])
    assert _order(browser) == [*by_normalised[::-1], "m_failed"]  # the board's ranking

    _header(browser, "synthetic.early").click()  # scores: best first
    assert _order(browser) == [*by_normalised[::-1], "m_failed"]
    assert _header(browser, "synthetic.early").get_attribute("aria-sort") == "descending"
    _header(browser, "synthetic.early").click()  # again: reversed; a cell with no value stays last
    assert _order(browser) == [*by_normalised, "m_failed"]
    assert _header(browser, "synthetic.early").get_attribute("aria-sort") == "ascending"

    browser.find_element("css selector", "input[name=view][value=raw]").click()  # raw scores, same column, same way
    assert _order(browser) == [*by_raw, "m_failed"]
    shown = browser.find_element("css selector", 'tr[data-model="m_c"] td.ok').text
    assert shown == "0.4000 [0.3900, 0.4100]"  # the raw value and interval shown, the normalised one hidden

    _header(browser, "model").click()
    assert _order(browser) == sorted([*SCORES, "m_failed"])
    _header(browser, "model").click()
    assert _order(browser) == sorted([*SCORES, "m_failed"], reverse=True)

    browser.find_element("css selector", 'tr[data-model="m_c"] td.ok a').click()  # a cell's link: its provenance
    assert browser.execute_script("return location.hash") == f"#result-{ids['m_c']}"
    target = browser.find_element("css selector", f"#result-{ids['m_c']}")
    assert target.is_displayed() and "m_c on synthetic.early" in target.text and "weights hash" in target.text
    browser.find_element("css selector", 'tr[data-model="m_failed"] td.failed a').click()
    failure = browser.find_element("css selector", browser.execute_script("return location.hash"))
    assert "Traceback (most recent call last): boom" in failure.text and "out of memory" in failure.text

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
