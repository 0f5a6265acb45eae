"""The log scan itself (tests/logscan.py, wired in tests/conftest.py) and the database's part in
keeping personal data out of logs (issue 9, item 5)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import IntegrityError

from app.runtime import Runtime
from bots.base import Channel
from core.db.models import Member
from core.shared.redaction import who
from tests.conftest import LOG_SCAN, TELEGRAM_TOKEN, WEBHOOK_SECRET, leaks_in
from tests.logscan import CONTROL_PHONE, harvest, source_files
from web.app import build_web_app

log = logging.getLogger("tests.logscan")


def test_the_scan_catches_a_phone_number_in_a_log_line() -> None:
    log.debug("sending to %s", CONTROL_PHONE.removeprefix("+"))
    log.warning("member whatsapp:%s did something", CONTROL_PHONE)
    caught = LOG_SCAN.findings(LOG_SCAN.take())  # taken: this test itself must not fail
    assert len(caught) == 2, caught
    assert CONTROL_PHONE in caught[1]


def test_the_scan_catches_what_a_subprocess_wrote() -> None:
    assert leaks_in(f"INFO loyalty: token {TELEGRAM_TOKEN}\n".encode())
    assert leaks_in("INFO loyalty: listening on http://127.0.0.1:8080\n") == []


def test_the_values_come_from_the_tests_and_the_fakes() -> None:
    values = harvest(source_files())
    # conftest's credentials, the fakes' default name, a parity journey's number and birthday.
    assert {TELEGRAM_TOKEN, WEBHOOK_SECRET, "Ann", "+79990001122"} <= values
    assert {"1990-11-24", "24.11.1990"} <= values
    # Words of the program itself are no personal data.
    assert "Balance" not in values and "skip" not in values


def test_a_member_appears_in_logs_as_a_keyed_hash() -> None:
    hashed = who("whatsapp", CONTROL_PHONE)
    assert hashed.startswith("whatsapp#") and CONTROL_PHONE.removeprefix("+") not in hashed
    assert hashed == who("whatsapp", CONTROL_PHONE) != who("whatsapp", "+79990007789")
    assert who("telegram", 1001) != who("vk", 1001)


async def test_a_database_error_shows_no_parameters(runtime: Runtime) -> None:
    member = Member(
        card_code="LOG-SCAN-01",
        name="Annabel Leewood",
        phone=CONTROL_PHONE,
        birthday=date(1990, 11, 24),
        terms_accepted_at=datetime(2026, 1, 1, tzinfo=UTC),
        language=None,  # NOT NULL: the insert fails with the row's parameters at hand
    )
    with pytest.raises(IntegrityError) as failed:
        async with runtime.db.transaction() as session:
            session.add(member)
    shown = str(failed.value)
    assert "hidden" in shown
    for value in (CONTROL_PHONE, "Annabel Leewood", "1990-11-24"):
        assert value not in shown
    log.error("the insert failed", exc_info=failed.value)
    assert LOG_SCAN.findings(LOG_SCAN.take()) == []


class _FailingMedia:
    """A channel whose signed link fails to serve: its path holds the link's secret."""

    def register_routes(self, app: web.Application) -> None:
        async def fail(_request: web.Request) -> web.Response:
            raise RuntimeError("the store went away")

        app.router.add_get("/media/{token}.json", fail)


async def test_a_failed_request_is_logged_by_its_route_not_its_secret_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "s1gned-t0ken-of-an-export"
    app = build_web_app({}, [cast("Channel", _FailingMedia())])
    async with TestClient(TestServer(app)) as client:
        response = await client.get(f"/media/{token}.json")
    assert response.status == 500
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "web.app")
    assert "GET /media/{token}.json failed" in ours
    assert token not in ours


def test_a_test_that_logs_a_phone_number_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan as the suite runs it: a session of its own, with this suite's conftest hooks."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    pytester.makeconftest(
        "from tests.conftest import (  # noqa: F401\n"
        "    no_personal_data_in_logs, pytest_configure, pytest_unconfigure\n"
        ")\n"
    )
    pytester.makepyfile(
        "import logging\n"
        "from tests.logscan import CONTROL_PHONE\n"
        "log = logging.getLogger('control')\n"
        "def test_leaks():\n"
        "    log.debug('sending to whatsapp:%s', CONTROL_PHONE)\n"
        "def test_clean():\n"
        "    log.warning('sending to member 42')\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*personal data*"])
