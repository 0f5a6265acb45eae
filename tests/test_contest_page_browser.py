"""The contest's public page in a real headless Chromium (Playwright driving Debian's
/usr/bin/chromium): the commitment, the frozen list and the result a member sees, the link to
the transcript, and the page in Russian; a leaderboard contest's live and frozen standings.
In CI (CI=true) the browser must be there; locally
the test is skipped only when /usr/bin/chromium is absent."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from app.runtime import Runtime
from tests.clocks import TEST_DAY as T0
from tests.clocks import StoppedClock
from tests.test_contests import clock, drawn_giveaway, shop

__all__ = ["clock", "shop"]

CHROMIUM = Path("/usr/bin/chromium")
HAS_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not HAS_CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("CI must test the page in a real browser: /usr/bin/chromium is missing")
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def test_the_contest_page_in_a_real_browser(
    shop: Runtime, clock: StoppedClock, browser: object
) -> None:
    from playwright.async_api import Browser

    assert isinstance(browser, Browser)
    contest_id, _people, transcript = await drawn_giveaway(shop, clock)
    server = TestServer(shop.web_app, host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        page = await browser.new_page(locale="en-US")
        response = await page.goto(f"{base}/contests/{contest_id}")
        assert response is not None and response.status == 200
        assert await page.title() == "Winter giveaway"
        assert await page.text_content("#title") == "Winter giveaway"
        assert await page.text_content("#state") == "The draw has taken place."
        assert (await page.text_content("#seed-sha256")) == transcript["commitment"]["seed_sha256"]
        assert (await page.text_content("#beacon-round")) == str(
            transcript["commitment"]["beacon_round"]
        )
        assert (await page.text_content("#entries-sha256")) == transcript["entries"]["sha256"]
        rows = await page.locator("#entries tbody tr").all_inner_texts()
        assert [row.split("\t")[0] for row in rows] == [
            line["pseudonym"] for line in transcript["entries"]["list"]
        ]
        winners = await page.locator("#results tr.winner td.hash").all_inner_texts()
        assert winners == transcript["result"]["winners"]
        reserves = await page.locator("#results tr.reserve td.hash").all_inner_texts()
        assert reserves == transcript["result"]["reserves"]
        assert "verify-draw" in (await page.text_content("#how-to-check") or "")
        # Nothing on the page names a member: pseudonyms only.
        content = await page.content()
        for person in _people:
            assert person.card_code not in content

        await page.click("#transcript")
        await page.wait_for_url(f"{base}/contests/{contest_id}/draw.json")
        shown = await page.text_content("body")
        assert json.loads(shown or "") == transcript

        russian = await browser.new_page(locale="ru-RU")
        await russian.goto(f"{base}/contests/{contest_id}?lang=ru")
        assert await russian.text_content("#state") == "Розыгрыш состоялся."
        assert await russian.text_content("#title") == "Зимний розыгрыш"

        missing = await page.goto(f"{base}/contests/404")
        assert missing is not None and missing.status == 404
        assert json.loads(await page.text_content("body") or "")["code"] == "contest_not_found"
    finally:
        await server.close()


async def test_a_leaderboard_contest_page_in_a_real_browser(
    shop: Runtime, clock: StoppedClock, browser: object
) -> None:
    """While it runs: the live top 10 by name ("Member #…" or a nickname); once closed: the
    frozen standings with their hash, the winners and reserves, no seed or beacon."""
    from playwright.async_api import Browser

    from tests.test_leaderboard_contests import buy, leaderboard, members

    assert isinstance(browser, Browser)
    contests = shop.program.contests
    created = await contests.create(leaderboard(), actor="test")
    people = await members(shop, 3)
    clock.current = T0 + timedelta(hours=1)
    await shop.program.boards.set_nickname(people[0].id, "Sunny")
    for index, person in enumerate(people):
        await contests.join(created.id, person.id)
        await buy(shop, person, str(300 - 100 * index), f"WEB-{index}")
    server = TestServer(shop.web_app, host="127.0.0.1")
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        page = await browser.new_page(locale="en-US")
        response = await page.goto(f"{base}/contests/{created.id}")
        assert response is not None and response.status == 200
        assert await page.text_content("#title") == "Top buyers"
        assert (await page.text_content("#state") or "").startswith("Open until ")
        assert "points from purchases" in (await page.text_content("#metric") or "")
        rows = await page.locator("#standings tbody tr").all_inner_texts()
        hidden = f"Member #{await shop.program.boards.pseudonym(people[1].id)}"
        third = f"Member #{await shop.program.boards.pseudonym(people[2].id)}"
        assert [row.split("\t")[:2] for row in rows] == [
            ["1", "Sunny"],
            ["2", hidden],
            ["3", third],
        ]
        assert await page.locator("#seed-sha256").count() == 0

        clock.current = T0 + timedelta(days=7, minutes=1)
        await contests.settle_due()
        transcript = await contests.transcript(created.id)
        await page.goto(f"{base}/contests/{created.id}")
        assert await page.text_content("#state") == "The contest is over; the standings are final."
        assert (await page.text_content("#entries-sha256")) == transcript["standings"]["sha256"]
        rows = await page.locator("#standings tbody tr td.hash").all_inner_texts()
        assert rows == [line["pseudonym"] for line in transcript["standings"]["list"]]
        winners = await page.locator("#results tr.winner td.hash").all_inner_texts()
        assert winners == transcript["result"]["winners"]
        reserves = await page.locator("#results tr.reserve td.hash").all_inner_texts()
        assert reserves == transcript["result"]["reserves"]
        assert "no seed and no beacon" in (await page.text_content("#how-to-check") or "")
        content = await page.content()
        assert "Sunny" not in content  # the frozen standings are pseudonyms only
        for person in people:
            assert person.card_code not in content

        persian = await browser.new_page(locale="fa-IR")
        await persian.goto(f"{base}/contests/{created.id}?lang=fa")
        assert await persian.text_content("#title") == "بهترین خریداران"
        assert await persian.get_attribute("html", "dir") == "rtl"
    finally:
        await server.close()
