"""The HTML report: it parses, embeds its plots, and names every run."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from click.testing import CliRunner

from recipeopt.campaign import Campaign
from recipeopt.cli import cli
from recipeopt.report import build_report
from recipeopt.strategy.config import StrategyConfig
from tests.conftest import ETCH42, fake_results, scratch_copy

#: A small scratch ensemble keeps the report's model fit quick.
SMALL = StrategyConfig(hidden=16, epochs=60)


class _Page(HTMLParser):
    """Collect images, table rows (with their class) and the cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rows: list[tuple[str | None, list[str]]] = []
        self._cells: list[str] | None = None
        self._class: str | None = None
        self._in_cell = False
        self.open_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag not in ("img", "meta"):
            self.open_tags.append(tag)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "tr":
            self._cells, self._class = [], attrs.get("class")
        elif tag in ("td", "th"):
            self._in_cell = True
            if self._cells is not None:
                self._cells.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.open_tags and self.open_tags[-1] == tag, (tag, self.open_tags[-3:])
        self.open_tags.pop()
        if tag in ("td", "th"):
            self._in_cell = False
        elif tag == "tr" and self._cells is not None:
            self.rows.append((self._class, self._cells))
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._in_cell and self._cells:
            self._cells[-1] += data


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """etch42 with four recorded batches (one run failed) and one pending."""
    c = Campaign.load(scratch_copy(ETCH42, tmp_path_factory.mktemp("report")), strategy=SMALL)
    for r in range(4):
        results = fake_results(c.suggest(), seed=r)
        if r == 1:
            results["status"] = ["complete", "failed", "complete", "complete"]
            results.loc[1, ["yield", "uniformity", "defects"]] = np.nan
        c.record(results)
    c.suggest()
    return c


def test_the_report_parses_embeds_its_plots_and_names_every_run(campaign):
    page = _Page()
    page.feed(build_report(campaign))
    page.close()
    assert page.open_tags == []  # every element closed
    assert len(page.images) >= 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    runs = campaign.runs()
    cells = [cell for _, row in page.rows for cell in row]
    for run_id in runs["run_id"]:
        assert run_id in cells
    failed = runs.loc[runs["status"] == "failed", "run_id"].item()
    classes = {row[0]: cls for cls, row in page.rows if row and re.fullmatch(r"R\d{3}", row[0])}
    assert classes[failed] == "failed"
    assert {classes[r] for r in runs["run_id"] if r != failed} <= {"complete", "pending"}
    # Each batch says how it was proposed, in words.
    batches = {row[0]: row for _, row in page.rows if row and re.fullmatch(r"B\d{2}", row[0])}
    assert set(batches) == set(runs["batch_id"])
    assert batches["B01"][2] == "space-filling design"
    assert batches["B03"][2] == "space-filling design"  # the failed run left the design short
    assert "refines around R" in batches["B04"][2] and "refines around R" in batches["B05"][2]
    # The stop signal, in one sentence, under the current model.
    html_text = build_report(campaign)
    assert re.search(r"<b>(Likely gains remain|Diminishing returns): \d+% chance", html_text)


def test_report_command_writes_one_file(campaign, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(campaign.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "etch42" in text
    assert "src='data:image/png;base64," in text and "href=" not in text  # nothing outside it


def _chromium():
    """A headless Debian Chromium driven by selenium (skipped without it, except in CI)."""
    import os
    import shutil

    if not (shutil.which("chromium") and shutil.which("chromedriver")) and not os.environ.get("CI"):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(flag)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def test_a_browser_renders_the_report_with_every_image(campaign, tmp_path):
    out = tmp_path / "report.html"
    out.write_text(build_report(campaign))
    browser = _chromium()
    try:
        browser.get(out.as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);"
        )
        text = browser.find_element("tag name", "body").text
    finally:
        browser.quit()
    # Every embedded plot decodes to a real picture (a broken one has naturalWidth 0).
    assert len(images) >= 4 and all(done and w > 100 for done, w in images)
    assert "etch42" in text
    for run_id in campaign.runs()["run_id"]:
        assert run_id in text
