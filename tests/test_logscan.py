"""The log scan itself (tests/logscan.py, wired in tests/conftest.py) and the database's part in
keeping personal data out of logs (issue 9, item 5)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.runtime import LOG_KEY, Runtime
from bots.base import Channel
from core.db.installation import installation_secret
from core.db.models import Identity, Member
from core.shared.redaction import redact_database_text, who
from tests.conftest import LOG_SCAN, TELEGRAM_TOKEN, WEBHOOK_SECRET, Backend, leaks_in
from tests.data import enrol
from tests.logscan import CONTROL_PHONE, harvest, source_files
from web.app import build_web_app

log = logging.getLogger("tests.logscan")
ROOT = Path(__file__).resolve().parent.parent


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


WHO_IN_A_PROCESS = """
import asyncio
from app.runtime import opened
from app.settings import Settings
from core.shared.redaction import redact_database_text, who

async def main():
    async with opened(Settings(_env_file=None)):
        print(who("whatsapp", "+79990007789"))

asyncio.run(main())
"""


async def test_a_member_has_the_same_hash_in_every_process_and_after_a_restart(
    backend: Backend, runtime: Runtime
) -> None:
    """Two processes, one after the other (a restart), hash a member alike: with the
    installation's own key, which no process without the database knows."""
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "VK_", "TWILIO_"))
        },
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": backend.database_url,
        "REDIS_URL": backend.redis_url,
    }
    hashes = []
    for _ in range(2):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WHO_IN_A_PROCESS,
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode(errors="replace")
        hashes.append(out.decode().strip())
    key = await installation_secret(runtime.db, LOG_KEY)
    identity = b"whatsapp:+79990007789"
    expected = "whatsapp#" + hmac.new(key, identity, hashlib.sha256).hexdigest()[:10]
    assert hashes == [expected, expected]
    # And a runtime of this process that starts up hashes alike.
    await runtime.hash_members_with_the_installation_key()
    assert who("whatsapp", "+79990007789") == expected


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_a_postgresql_error_quoting_a_value_shows_none_of_it_in_the_log(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL and its driver quote values in their messages (an invalid input's text, an
    argument that cannot be encoded, a violation's key); what the log shows of such an error
    keeps its kind, the constraint and the statement, never the value, in the message and in
    the traceback alike."""
    member = await enrol(runtime, "1001")
    errors: list[BaseException] = []
    with pytest.raises(IntegrityError) as duplicate:
        async with runtime.db.transaction() as session:
            session.add(
                Identity(
                    member_id=member.id,
                    channel="whatsapp",
                    external_id=CONTROL_PHONE,
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
            session.add(
                Identity(
                    member_id=member.id,
                    channel="whatsapp",
                    external_id=CONTROL_PHONE,
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
    errors.append(duplicate.value)
    with pytest.raises(DBAPIError) as invalid:
        async with runtime.db.transaction() as session:
            # The member's text where a number was expected, cast by the server.
            await session.execute(
                text("SELECT CAST(CAST(:typed AS text) AS integer)"), {"typed": "Annabel Leewood"}
            )
    errors.append(invalid.value)
    with pytest.raises(DBAPIError) as argument:
        async with runtime.db.transaction() as session:
            # ... and cast by the driver (asyncpg quotes the argument it cannot encode).
            await session.execute(
                text("SELECT CAST(:typed AS integer)"), {"typed": "Annabel Leewood"}
            )
    errors.append(argument.value)
    # The invalid inputs quote the member's text (in the drivers' messages, which a traceback
    # shows): what the log must not show. (asyncpg keeps a violation's DETAIL, which quotes
    # the key's value, out of its message; psycopg would not.)
    raw = "\n".join(
        logging.Formatter().formatException((type(error), error, error.__traceback__))
        for error in errors
    )
    assert raw.count("Annabel Leewood") >= 2

    caplog.set_level(logging.INFO)
    for error in errors:
        log.error("a turn failed", exc_info=error)
        log.warning("a turn failed: %s", error)
    shown = "\n".join(LOG_SCAN.format(record) for record in LOG_SCAN.records)
    assert LOG_SCAN.findings(LOG_SCAN.take()) == []
    assert "Annabel Leewood" not in shown and CONTROL_PHONE not in shown
    # What an operator needs is still there.
    assert 'violates unique constraint "channel_external_id"' in shown
    assert "invalid input syntax for type integer: (hidden)" in shown
    assert "query argument $1: (hidden)" in shown
    assert "Traceback" in shown


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        (
            'duplicate key value violates unique constraint "channel_external_id"\n'
            "DETAIL:  Key (channel, external_id)=(whatsapp, +79990007788) already exists.",
            'duplicate key value violates unique constraint "channel_external_id"\n'
            "DETAIL:  Key (channel, external_id)=(hidden) already exists.",
        ),
        (
            'new row for relation "members" violates check constraint "ck_name"\n'
            "DETAIL:  Failing row contains (7, Annabel Leewood, +79990007788).",
            'new row for relation "members" violates check constraint "ck_name"\nDETAIL:  (hidden)',
        ),
        (
            'invalid input value for enum kind: "Annabel Leewood"',
            "invalid input value for enum kind: (hidden)",
        ),
        (
            "invalid input for query argument $2: 'Annabel Leewood' (expected str)",
            "invalid input for query argument $2: (hidden)",
        ),
        ('relation "members" does not exist', 'relation "members" does not exist'),
    ],
)
def test_the_values_a_database_message_quotes_are_hidden(message: str, shown: str) -> None:
    """psycopg puts the DETAIL into the message; asyncpg and PostgreSQL quote inputs."""
    assert redact_database_text(message) == shown
