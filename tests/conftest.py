"""Fixtures: every test that touches data runs on the embedded default (SQLite + in-process
state) and on real PostgreSQL + Redis. Without those services the second run is skipped,
except in CI (CI=true), where a missing service fails the suite loudly.

Under pytest-xdist (`-n auto`, as `make test` runs it) each worker has databases of its own:
the embedded one under its own tmp_path_factory, and on the services the configured database
name with the worker's suffix (`test` -> `test_gw0`, `test_gw1`, created here when missing)
and the configured Redis database shifted by the worker's number (15 -> 15, 14; 8 -> 8, 9)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]  # (no type information)
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.db.database import Database
from core.db.migrate import upgrade
from core.db.models import Base
from core.shared.redaction import install_log_redaction
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.logscan import LogScan, harvest, pattern_of, source_files

SERVICES_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SERVICES_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
pytest_plugins = ("pytester",)
# `-n auto` runs this many workers at most: the machines (developers' and CI's) have 2 cores,
# and every worker takes a PostgreSQL database and a Redis database of its own.
MAX_WORKERS = 2
REDIS_DATABASES = 16  # Redis's default `databases`

TELEGRAM_TOKEN = "123456:TEST-token"
WEBHOOK_SECRET = "test-webhook-secret"

# Every log line of the suite, at DEBUG, is scanned for the personal data and secrets the tests
# use (tests/logscan.py): a test that logged one fails.
LOG_SCAN = LogScan(pattern_of(harvest(source_files())))


def pytest_configure(config: pytest.Config) -> None:
    # As main.py does for every process: what a database error quotes stays out of the log.
    install_log_redaction()
    root = logging.getLogger()
    root.addHandler(LOG_SCAN)
    root.setLevel(logging.DEBUG)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(LOG_SCAN)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """In an xdist worker: collect the garbage now and freeze what is left, before the worker
    reports that it finished (xdist sends "workerfinished" after this hook, the controller
    then ends the worker's gateway). From then on execnet gives the worker 5 seconds, then
    sends it SIGINT: the full collections that followed over the worker's whole heap (the
    interpreter's own, pytest's at unconfigure) took longer than that on a loaded 2-core
    machine, and the KeyboardInterrupt surfaced in hypothesis's gc callback, the first Python
    code to run after a collection ("Exception ignored in: gc_callback", a
    PytestUnraisableExceptionWarning at the end of CI's output). What this collection finds
    is still reported by pytest; the frozen rest is never scanned again (the process ends).
    Hypothesis's terminal summary, after the report too, imports hypothesis in a worker that
    ran none of its tests (seconds, with pytest rewriting its asserts): imported here."""
    if worker_number() is None:
        return
    import hypothesis.internal.observability  # noqa: F401 - see above

    gc.collect()
    gc.freeze()


def worker_number() -> int | None:
    """This xdist worker's number (gw0 -> 0), None when the suite runs in one process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return int(worker.removeprefix("gw")) if worker else None


def worker_database_url(database_url: str, number: int) -> str:
    url = make_url(database_url)
    return url.set(database=f"{url.database}_gw{number}").render_as_string(hide_password=False)


def worker_redis_url(redis_url: str, number: int) -> str:
    """The configured Redis database shifted up by the worker's number, or down when that would
    pass Redis's last database."""
    parts = urlsplit(redis_url)
    first = int(parts.path.strip("/") or 0)
    chosen = first + number if first + number < REDIS_DATABASES else first - number
    if not 0 <= chosen < REDIS_DATABASES:
        raise pytest.UsageError(f"no Redis database for xdist worker {number} of {redis_url}")
    return urlunsplit(parts._replace(path=f"/{chosen}"))


async def _create_databases(database_url: str, names: list[str]) -> None:
    """CREATE DATABASE each missing one, through a connection to the configured database (to
    the maintenance database `postgres` when the configured one does not exist yet)."""
    url = make_url(database_url).set(drivername="postgresql")
    try:
        connection = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=10)
    except asyncpg.InvalidCatalogNameError:
        maintenance = url.set(database="postgres").render_as_string(hide_password=False)
        connection = await asyncpg.connect(maintenance, timeout=10)
    try:
        for name in names:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Before xdist starts its workers: `-n auto` means at most MAX_WORKERS, and each worker's
    PostgreSQL database must exist. When it cannot be created (a user without CREATEDB), the
    suite runs in one process instead, and says so."""
    if any(config.getoption(name, False) for name in ("collectonly", "usepdb")):
        return  # xdist runs these in one process itself
    if hasattr(config, "workerinput"):
        return
    workers = getattr(config.option, "numprocesses", None)
    if workers in ("auto", "logical"):
        cores = min(MAX_WORKERS, os.cpu_count() or 1)
        workers = config.option.numprocesses = cores if cores > 1 else 0
    if not workers or not SERVICES_DATABASE_URL.startswith("postgresql"):
        return
    names = [
        str(make_url(worker_database_url(SERVICES_DATABASE_URL, number)).database)
        for number in range(int(workers))
    ]
    try:
        asyncio.run(_create_databases(SERVICES_DATABASE_URL, names))
    except (OSError, TimeoutError):
        return  # unreachable: the workers skip the services (or, in CI, fail loudly)
    except asyncpg.PostgresError as error:
        config.option.numprocesses = 0
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"running serially: cannot create the workers' databases {names}: {error!r}"
            ),
            stacklevel=2,
        )


def leaks_in(output: str | bytes) -> list[str]:
    """What a process's own output (a subprocess's log) shows of the tests' personal data."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    return LOG_SCAN.findings_in(output)


@pytest.fixture(autouse=True)
def no_personal_data_in_logs() -> Iterator[None]:
    LOG_SCAN.take()
    yield
    findings = LOG_SCAN.findings(LOG_SCAN.take())
    if findings:
        pytest.fail("personal data or a secret in the log:\n" + "\n".join(findings[:20]))


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


async def _reachable(backend: Backend) -> str | None:
    """None if the services answer, else what is wrong."""
    db = Database.from_url(backend.database_url)
    try:
        await asyncio.wait_for(db.ping(), 10)
    except Exception as error:
        return f"PostgreSQL at {backend.database_url}: {error!r}"
    finally:
        await db.close()
    redis = Redis.from_url(backend.redis_url)
    try:
        # redis-py types ping() for the sync and the async client at once.
        await asyncio.wait_for(cast("Awaitable[bool]", redis.ping()), 10)
    except Exception as error:
        return f"Redis at {backend.redis_url}: {error!r}"
    finally:
        await redis.aclose()
    return None


async def _drop_everything(database_url: str) -> None:
    db = Database.from_url(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await db.close()


@pytest.fixture(scope="session", params=["embedded", "services"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    if request.param == "embedded":
        path = tmp_path_factory.mktemp("embedded") / "loyalty.db"
        chosen = Backend("embedded", f"sqlite+aiosqlite:///{path}", "")
    else:
        number = worker_number()
        if number is None:
            chosen = Backend("services", SERVICES_DATABASE_URL, SERVICES_REDIS_URL)
        else:
            chosen = Backend(
                "services",
                worker_database_url(SERVICES_DATABASE_URL, number),
                worker_redis_url(SERVICES_REDIS_URL, number),
            )
        problem = asyncio.run(_reachable(chosen))
        if problem is not None:
            if os.environ.get("CI"):
                pytest.fail(f"CI must test against real services; unreachable: {problem}")
            pytest.skip(f"real services unreachable: {problem}")
        asyncio.run(_drop_everything(chosen.database_url))
    upgrade(chosen.database_url)
    return chosen


async def _wipe(backend: Backend) -> None:
    db = Database.from_url(backend.database_url)
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    try:
        async with db.transaction() as session:
            if backend.is_postgres:
                await session.execute(
                    text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                )
            else:
                for table in tables:
                    await session.execute(text(f"DELETE FROM {table}"))
    finally:
        await db.close()
    if backend.redis_url:
        redis = Redis.from_url(backend.redis_url)
        try:
            await redis.flushdb()
        finally:
            await redis.aclose()


def make_settings(backend: Backend, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        "telegram_bot_token": None,
        "telegram_api_url": "",
        "telegram_webhook_secret": None,
        "public_url": "",
        "default_locale": "en",
        # Scripted members type faster than people; the flood limit has tests of its own.
        "flood_max_messages": 10_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
async def settings(backend: Backend) -> Settings:
    """Settings of a clean database (and a clean Redis) for one test."""
    await _wipe(backend)
    return make_settings(backend)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    built = build_runtime(settings)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as fake:
        yield fake


@pytest.fixture
async def telegram_settings(
    backend: Backend, settings: Settings, fake_telegram: FakeTelegramAPI
) -> Settings:
    return make_settings(
        backend,
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_api_url=fake_telegram.base_url,
        telegram_webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
async def telegram_runtime(telegram_settings: Settings) -> AsyncIterator[Runtime]:
    built = build_runtime(telegram_settings)
    assert built.telegram is not None
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
