"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from app.settings import Settings
from core.db.database import Database
from core.db.migrate import alembic_config, upgrade
from core.db.models import Base
from core.shared import cards

TABLES = {table.name for table in Base.metadata.sorted_tables}
# On expressions: Alembic compares it on PostgreSQL, but SQLite's cannot be reflected, so its
# presence is checked by name (`member_indexes`) on both.
BIRTHDAY_INDEX = "ix_members_birthday_month_day"
BIRTHDAY_INDEX_REVISION = "0008"


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    with warnings.catch_warnings():
        # SQLite's expression indexes are skipped by the comparison: see BIRTHDAY_INDEX.
        warnings.filterwarnings("ignore", message=".*expression-based index")
        return list(compare_metadata(context, Base.metadata))


def member_indexes(connection: Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        rows = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'members'")
        )
        return {row[0] for row in rows}
    return {str(index["name"]) for index in inspect(connection).get_indexes("members")}


async def indexes_of_members(url: str) -> set[str]:
    db = Database.from_url(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(member_indexes)
    finally:
        await db.close()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def inspect_database(url: str) -> tuple[list[Any], str | None, set[str]]:
    db = Database.from_url(url)
    try:
        async with db.engine.connect() as connection:
            differences = await connection.run_sync(schema_differences)
            revision = await connection.run_sync(current_revision)
            tables = await connection.run_sync(table_names)
    finally:
        await db.close()
    return differences, revision, tables


async def test_the_live_schema_matches_the_models(settings: Settings) -> None:
    differences, revision, tables = await inspect_database(settings.database_url)

    assert differences == [], f"migrations and models disagree: {differences}"
    assert revision == head_revision()
    assert tables >= TABLES
    assert BIRTHDAY_INDEX in await indexes_of_members(settings.database_url)


async def test_upgrading_again_is_a_no_op(settings: Settings) -> None:
    # Alembic's env runs its own event loop, so it is called from a worker thread.
    await asyncio.to_thread(upgrade, settings.database_url)

    differences, revision, _ = await inspect_database(settings.database_url)
    assert differences == []
    assert revision == head_revision()


def test_downgrade_to_base_and_upgrade_to_head_on_a_throwaway_database(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'throwaway.db'}"
    config = alembic_config(url)

    command.upgrade(config, "head")
    differences, revision, tables = asyncio.run(inspect_database(url))
    assert (differences, revision) == ([], head_revision())
    assert tables >= TABLES

    before_index = ScriptDirectory.from_config(config).get_revision(BIRTHDAY_INDEX_REVISION)
    assert before_index is not None and isinstance(before_index.down_revision, str)
    command.downgrade(config, before_index.down_revision)
    assert BIRTHDAY_INDEX not in asyncio.run(indexes_of_members(url))
    command.upgrade(config, "head")
    assert BIRTHDAY_INDEX in asyncio.run(indexes_of_members(url))

    command.downgrade(config, "base")
    differences, revision, tables = asyncio.run(inspect_database(url))
    assert revision is None
    assert not TABLES & tables
    assert differences  # every table is missing now: the comparison must notice

    command.upgrade(config, "head")
    differences, revision, tables = asyncio.run(inspect_database(url))
    assert (differences, revision) == ([], head_revision())
    assert tables >= TABLES


def test_members_who_joined_before_referral_codes_get_one_each(tmp_path: Path) -> None:
    """0009 gives every existing member a referral code of its own: unguessable, distinct,
    and never readable as a card."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0008")

    async def add_members() -> None:
        db = Database.from_url(url)
        try:
            async with db.engine.begin() as connection:
                for number, card in enumerate(("ABCDEFGH2", "BCDEFGHJ3", "CDEFGHJK4")):
                    await connection.execute(
                        text(
                            "INSERT INTO members (card_code, language, phone_verified, "
                            "marketing_opt_in, terms_accepted_at, balance, created_at, "
                            "updated_at) VALUES (:card, 'en', 0, 0, :now, :n, :now, :now)"
                        ),
                        {"card": card, "now": "2026-11-30 10:00:00.000000", "n": number},
                    )
        finally:
            await db.close()

    async def referral_codes() -> list[str]:
        db = Database.from_url(url)
        try:
            async with db.engine.connect() as connection:
                rows = await connection.execute(text("SELECT referral_code FROM members"))
                return [row[0] for row in rows]
        finally:
            await db.close()

    asyncio.run(add_members())
    command.upgrade(config, "head")
    codes = asyncio.run(referral_codes())
    assert len(codes) == len(set(codes)) == 3
    assert all(cards.referral(code) == code and not cards.is_valid(code) for code in codes)


# A member row as the migrations before the newest write it (for data-migration tests).
MEMBER_ROW = (
    "INSERT INTO members (id, card_code, referral_code, language, phone_verified, "
    "marketing_opt_in, terms_accepted_at, balance, debt, created_at, updated_at) "
    "VALUES (:id, :card, :referral, 'en', 0, 1, :at, 0, 0, :at, :at)"
)


async def execute_on(url: str, *statements: tuple[str, dict[str, Any]]) -> list[Any]:
    """Run raw statements on an old schema in one transaction; the rows of each SELECT."""
    db = Database.from_url(url)
    found: list[Any] = []
    try:
        async with db.engine.begin() as connection:
            for sql, values in statements:
                result = await connection.execute(text(sql), values)
                if sql.startswith("SELECT"):
                    found.append(result.all())
    finally:
        await db.close()
    return found


def test_members_before_segments_get_their_last_activity_and_channel(tmp_path: Path) -> None:
    """0015: a member who joined before it was last active at their latest purchase (or when
    they joined), on the messenger account added last; no account's last message is known."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0014")
    joined, bought = "2026-10-01 10:00:00.000000", "2026-11-20 18:30:00.000000"

    execute = functools.partial(execute_on, url)

    member = MEMBER_ROW
    identity = (
        "INSERT INTO identities (member_id, channel, external_id, created_at) "
        "VALUES (:member, :channel, :external, :at)"
    )
    asyncio.run(
        execute(
            (member, {"id": 1, "card": "ABCDEFGH2", "referral": "r1", "at": joined}),
            (member, {"id": 2, "card": "BCDEFGHJ3", "referral": "r2", "at": joined}),
            (identity, {"member": 1, "channel": "telegram", "external": "1", "at": joined}),
            (identity, {"member": 1, "channel": "vk", "external": "1", "at": joined}),
            (identity, {"member": 2, "channel": "whatsapp", "external": "+7999", "at": joined}),
            (
                "INSERT INTO purchases (purchase_id, member_id, amount, points, actor, "
                "created_at) VALUES ('P1', 1, 100, 10, 'till', :at)",
                {"at": bought},
            ),
        )
    )
    command.upgrade(config, "head")
    members, seen = asyncio.run(
        execute(
            ("SELECT id, last_active_at, last_channel FROM members ORDER BY id", {}),
            ("SELECT DISTINCT last_seen_at FROM identities", {}),
        )
    )
    assert [tuple(row) for row in members] == [(1, bought, "vk"), (2, joined, "whatsapp")]
    assert [tuple(row) for row in seen] == [(None,)]


def test_unanswered_feedback_questions_before_0026_are_asked_only_if_sent(
    tmp_path: Path,
) -> None:
    """0026: a question waiting for an answer names its member's delivery row, and stays
    answerable only if that row was sent (a held-out member's is closed; a queued one opens
    when it is sent); an answered one is left as it is."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0020")
    at = "2026-11-20 18:30:00.000000"

    execute = functools.partial(execute_on, url)

    member = MEMBER_ROW
    delivery = (
        "INSERT INTO broadcast_deliveries (id, broadcast_id, member_id, status, attempts, round)"
        " VALUES (:id, 1, :member, :status, 1, 0)"
    )
    question = (
        "INSERT INTO feedback_requests (id, broadcast_id, member_id, purchase_id, reward_points,"
        " asked_at, score) VALUES (:id, 1, :member, :purchase, 25, :at, :score)"
    )
    cards = ["ABCDEFGH2", "BCDEFGHJ3", "CDEFGHJK4", "DEFGHJKM5"]
    asyncio.run(
        execute(
            *[
                (member, {"id": n, "card": card, "referral": f"r{n}", "at": at})
                for n, card in enumerate(cards, start=1)
            ],
            (
                "INSERT INTO broadcasts (id, name, spec, state, created_by, created_at)"
                " VALUES (1, 'How was it?', '{}', 'sending', 'test', :at)",
                {"at": at},
            ),
            (delivery, {"id": 11, "member": 1, "status": "sent"}),
            (delivery, {"id": 12, "member": 2, "status": "skipped"}),
            (delivery, {"id": 13, "member": 3, "status": "queued"}),
            (delivery, {"id": 14, "member": 4, "status": "skipped"}),
            (question, {"id": 1, "member": 1, "purchase": "p1", "at": at, "score": None}),
            (question, {"id": 2, "member": 2, "purchase": "p2", "at": at, "score": None}),
            (question, {"id": 3, "member": 3, "purchase": "p3", "at": at, "score": None}),
            (question, {"id": 4, "member": 4, "purchase": "p4", "at": at, "score": 7}),
        )
    )
    command.upgrade(config, "head")
    (questions,) = asyncio.run(
        execute(
            (
                "SELECT id, delivery_id, asked_at IS NOT NULL FROM feedback_requests ORDER BY id",
                {},
            )
        )
    )
    assert [tuple(row) for row in questions] == [
        (1, 11, 1),  # sent: still answerable
        (2, 12, 0),  # held out: closed
        (3, 13, 0),  # queued: opens when sent
        (4, None, 1),  # answered: as it was
    ]


def test_unfinished_broadcasts_get_their_readable_image_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0025 stores the image of a broadcast not finished yet whose path is readable where the
    upgrade runs (a PNG or JPEG of at most 5 MB): its spec names it by digest from then on.
    One whose file is gone, or is no image, keeps its path (it fails when sent, saying why)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0020")
    monkeypatch.chdir(tmp_path)
    picture = b"\x89PNG\r\n\x1a\n" + b"spring" * 10
    (tmp_path / "spring.png").write_bytes(picture)
    (tmp_path / "notes.png").write_bytes(b"not a picture")
    specs: dict[int, dict[str, Any]] = {
        1: {"name": "kept", "text": "Hi", "image": "spring.png",
            "variants": [{"key": "A", "share": 50}, {"key": "B", "share": 50,
                                                      "image": "spring.png"}]},
        2: {"name": "gone", "text": "Hi", "image": "gone.png"},
        3: {"name": "no image", "text": "Hi", "image": "notes.png"},
    }  # fmt: skip

    async def add_broadcasts() -> None:
        db = Database.from_url(url)
        try:
            async with db.engine.begin() as connection:
                for broadcast_id, spec in specs.items():
                    await connection.execute(
                        text(
                            "INSERT INTO broadcasts (id, name, spec, state, created_by, "
                            "created_at) VALUES (:id, :name, :spec, 'draft', 'test', :now)"
                        ),
                        {
                            "id": broadcast_id,
                            "name": spec["name"],
                            "spec": json.dumps(spec),
                            "now": "2026-11-30 10:00:00.000000",
                        },
                    )
        finally:
            await db.close()

    async def stored() -> tuple[dict[int, Any], list[Any]]:
        db = Database.from_url(url)
        try:
            async with db.engine.connect() as connection:
                rows = await connection.execute(text("SELECT id, spec FROM broadcasts"))
                specs_now = {row[0]: json.loads(row[1]) for row in rows}
                images = await connection.execute(
                    text(
                        "SELECT broadcast_id, digest, content_type, filename, content "
                        "FROM broadcast_images"
                    )
                )
                return specs_now, [tuple(row) for row in images]
        finally:
            await db.close()

    asyncio.run(add_broadcasts())
    command.upgrade(config, "head")
    after, images = asyncio.run(stored())
    digest = hashlib.sha256(picture).hexdigest()
    assert images == [(1, digest, "image/png", "spring.png", picture)]
    assert after[1]["image"] == after[1]["variants"][1]["image"] == f"sha256:{digest}"
    assert (after[2]["image"], after[3]["image"]) == ("gone.png", "notes.png")
