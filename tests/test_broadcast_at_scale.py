"""Issue 11 at full size: one broadcast to 10,000 members through the fake Telegram, VK and
Twilio servers, sent by real `main.py broadcast-send` processes on PostgreSQL + Redis, with a
429 in the middle, one worker killed with SIGKILL and another started, a pause and a resume.

Asserted from what the fakes received and from the delivery rows: every consenting member of
the segment who can be reached now gets exactly one message, on the account they wrote from
last (Telegram and WhatsApp: only the sends in flight at the kill may come twice; VK drops
those, its random_id being the same); nobody outside the segment or without consent gets
anything; members in their night are queued for their morning; outside the WhatsApp window
variant A's template goes out and variant B falls back to another account or is skipped;
blocked accounts are counted, not retried; `broadcast-status --json` agrees with the fakes.

The subprocesses run on real time: the members' time zones are chosen from the hour the test
starts at (day: 12:00 to 16:00 there, night: 03:00)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

import main
from app import broadcasts as wiring
from app.runtime import Runtime, build_runtime
from app.settings import Settings
from core.broadcasts.engine import DEFAULT_BATCH, variant_for
from core.broadcasts.spec import QuietHours, parse_spec
from core.db.models import BroadcastDelivery, Identity, Member
from core.shared import cards
from core.shared.quiet_hours import quiet_until
from tests.conftest import TELEGRAM_TOKEN, WEBHOOK_SECRET, Backend
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.test_broadcasts import settings_for
from tests.test_console import ROOT, environment
from tests.test_vk import SECRET, fake_vk  # noqa: F401 - fixture
from tests.whatsapp_member import ACCOUNT_SID, AUTH_TOKEN, SHOP_NUMBER, fake_twilio  # noqa: F401

MEMBERS = 10_000
TEMPLATE_SID = "HX00112233445566778899aabbccddeeff"
# Longer than a live worker's batch takes on a loaded machine (VK's pace and a 429's wait in
# it): only the dead worker's batch is taken over.
LEASE_SECONDS = 10
RETRY_AFTER = 3
# Generous: CI runs the suite on two processes of a loaded 2-core machine.
WITHIN = 120.0

# How many members of each kind; the rest of MEMBERS are plain Telegram members.
KINDS = {
    "vk": 300,
    "whatsapp": 700,
    "whatsapp_closed": 400,  # wrote last 3 days ago: outside the 24-hour window
    "telegram_then_vk": 100,  # both accounts, wrote from VK last
    "vk_then_telegram": 100,  # both, wrote from Telegram last
    "telegram_then_whatsapp": 150,  # both, wrote from WhatsApp last (window open)
    "telegram_then_whatsapp_closed": 100,  # both, WhatsApp last but its window closed
    "telegram_blocked": 20,
    "vk_blocked": 10,
    "whatsapp_unsubscribed": 10,
    "night_telegram": 240,
    "night_vk": 30,
    "night_whatsapp": 30,
    "other_language": 700,  # consenting, but not in the segment (language "ru")
    "no_consent_telegram": 800,
    "no_consent_vk": 100,
    "no_consent_whatsapp": 100,
}


@dataclass(frozen=True)
class Account:
    channel: str
    external_id: str
    last_seen_at: datetime


@dataclass
class Person:
    index: int
    kind: str
    accounts: list[Account]
    consent: bool = True
    language: str = "en"
    zone: str = ""
    member_id: int = 0

    @property
    def name(self) -> str:
        return f"M{self.index}"

    @property
    def night(self) -> bool:
        return self.kind.startswith("night_")

    @property
    def blocked(self) -> bool:
        return self.kind in ("telegram_blocked", "vk_blocked", "whatsapp_unsubscribed")

    @property
    def planned(self) -> bool:
        """Whether the broadcast has a row for them: consenting and in the segment."""
        return self.consent and self.language == "en"


def zone_at(local_hour: int, now: datetime) -> str:
    """An IANA zone where it is `local_hour` o'clock now (Etc/GMT-3 is UTC+3)."""
    offset = (local_hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def population(now: datetime) -> list[Person]:
    pick = random.Random(11)
    kinds = [kind for kind, count in KINDS.items() for _ in range(count)]
    kinds += ["telegram"] * (MEMBERS - len(kinds))
    pick.shuffle(kinds)
    day_zones = [zone_at(hour, now) for hour in (12, 14, 16)]
    night_zone = zone_at(3, now)
    recent, older, closed = (
        now - timedelta(hours=1),
        now - timedelta(days=2),
        now - timedelta(days=3),
    )
    people = []
    for index, kind in enumerate(kinds, start=1):
        telegram = str(5_000_000 + index)
        vk = str(300_000_000 + index)
        whatsapp = f"+4917{index:08d}"
        accounts = {
            "telegram": [Account("telegram", telegram, recent)],
            "vk": [Account("vk", vk, recent)],
            "whatsapp": [Account("whatsapp", whatsapp, recent)],
            "whatsapp_closed": [Account("whatsapp", whatsapp, closed)],
            "telegram_then_vk": [Account("telegram", telegram, older), Account("vk", vk, recent)],
            "vk_then_telegram": [Account("vk", vk, older), Account("telegram", telegram, recent)],
            "telegram_then_whatsapp": [
                Account("telegram", telegram, older),
                Account("whatsapp", whatsapp, recent),
            ],
            "telegram_then_whatsapp_closed": [
                Account("telegram", telegram, now - timedelta(days=5)),
                Account("whatsapp", whatsapp, closed),
            ],
            "telegram_blocked": [Account("telegram", telegram, recent)],
            "vk_blocked": [Account("vk", vk, recent)],
            "whatsapp_unsubscribed": [Account("whatsapp", whatsapp, recent)],
            "night_telegram": [Account("telegram", telegram, recent)],
            "night_vk": [Account("vk", vk, recent)],
            "night_whatsapp": [Account("whatsapp", whatsapp, recent)],
            "other_language": [
                [
                    Account("telegram", telegram, recent),
                    Account("vk", vk, recent),
                    Account("whatsapp", whatsapp, recent),
                ][index % 3]
            ],
            "no_consent_telegram": [Account("telegram", telegram, recent)],
            "no_consent_vk": [Account("vk", vk, recent)],
            "no_consent_whatsapp": [Account("whatsapp", whatsapp, recent)],
        }[kind]
        people.append(
            Person(
                index,
                kind,
                accounts,
                consent=not kind.startswith("no_consent"),
                language="ru" if kind == "other_language" else "en",
                zone=night_zone if kind.startswith("night_") else pick.choice(day_zones),
            )
        )
    return people


async def seed(runtime: Runtime, people: list[Person], now: datetime) -> None:
    """Members and their accounts in a few multi-row INSERTs (not 10,000 sign-ups)."""
    codes: set[str] = set()
    while len(codes) < len(people):
        codes.add(cards.generate())
    async with runtime.db.transaction() as session:
        ids = (
            await session.scalars(
                insert(Member).returning(Member.id, sort_by_parameter_order=True),
                [
                    {
                        "card_code": code,
                        "name": person.name,
                        "language": person.language,
                        "marketing_opt_in": person.consent,
                        "terms_accepted_at": now,
                        "balance": person.index % 500,
                        "time_zone": person.zone,
                        "created_at": now,
                        "updated_at": now,
                        "last_active_at": max(a.last_seen_at for a in person.accounts),
                    }
                    for person, code in zip(people, codes, strict=True)
                ],
            )
        ).all()
        for person, member_id in zip(people, ids, strict=True):
            person.member_id = member_id
        await session.execute(
            insert(Identity),
            [
                {
                    "member_id": person.member_id,
                    "channel": account.channel,
                    "external_id": account.external_id,
                    "created_at": now - timedelta(days=30),
                    "last_seen_at": account.last_seen_at,
                }
                for person in people
                for account in person.accounts
            ],
        )


@dataclass(frozen=True)
class Expected:
    """What a planned member should end with: a message (channel, address, text or template
    variables), or their row's status and reason."""

    channel: str = ""
    address: str = ""
    text: str = ""
    template: dict[str, str] | None = None
    status: str = "sent"
    reason: str | None = None


def expected_for(person: Person, variant: str) -> Expected:
    if person.night:
        return Expected(status="queued", reason="quiet_hours")
    text = f"{variant} {person.name}: winter sale"
    first = max(person.accounts, key=lambda account: account.last_seen_at)
    if person.kind == "telegram_blocked" or person.kind == "vk_blocked":
        return Expected(channel=first.channel, status="skipped", reason="blocked")
    if person.kind == "whatsapp_unsubscribed":
        return Expected(channel="whatsapp", status="skipped", reason="unreachable")
    if first.channel == "whatsapp" and person.kind.endswith("whatsapp_closed"):
        if variant == "A":
            return Expected("whatsapp", first.external_id, template={"1": person.name})
        others = [account for account in person.accounts if account is not first]
        if not others:
            return Expected(channel="whatsapp", status="skipped", reason="whatsapp_window")
        return Expected(others[0].channel, others[0].external_id, text)
    return Expected(first.channel, first.external_id, text)


SPEC: dict[str, Any] = {
    "name": "Winter sale at scale",
    "segment": {"language": "en"},
    "text": {"en": "A {name}: winter sale"},
    "variants": [
        {
            "key": "A",
            "share": 50,
            "whatsapp_template": {"content_sid": TEMPLATE_SID, "variables": {"1": "{name}"}},
        },
        {"key": "B", "share": 50, "text": {"en": "B {name}: winter sale"}},
    ],
    "holdout": 0,
    "buttons": [],
    "coupon_campaign": None,
    "whatsapp_template": None,
}


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    log: IO[bytes]
    path: Path

    def tail(self) -> str:
        self.log.flush()
        return self.path.read_text(encoding="utf-8", errors="replace")[-3000:]


@dataclass
class Fleet:
    """The `main.py broadcast-send` processes of the run, their output kept for a failure."""

    broadcast_id: int
    env: dict[str, str]
    logs: Path
    workers: list[Worker] = field(default_factory=list)

    async def start(self, name: str) -> Worker:
        """A worker whose Telegram sends the fake tells apart: its own token (the same bot)."""
        path = self.logs / f"{name}.log"
        log = path.open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            "broadcast-send",
            str(self.broadcast_id),
            cwd=ROOT,
            env={**self.env, "TELEGRAM_BOT_TOKEN": token_of(name)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        worker = Worker(name, process, log, path)
        self.workers.append(worker)
        return worker

    def check_alive(self) -> None:
        for worker in self.workers:
            code = worker.process.returncode
            if code not in (None, 0, -signal.SIGKILL):
                raise AssertionError(f"worker {worker.name} exited {code}:\n{worker.tail()}")

    async def finished(self, worker: Worker, timeout: float = WITHIN) -> str:  # noqa: ASYNC109
        try:
            code = await asyncio.wait_for(worker.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"worker {worker.name} still runs:\n{worker.tail()}") from None
        assert code == 0, worker.tail()
        return worker.tail()

    async def close(self) -> None:
        for worker in self.workers:
            if worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
            worker.log.close()


def token_of(worker: str) -> str:
    return f"{TELEGRAM_TOKEN}-{worker}"


async def until(fleet: Fleet, condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition on what the fakes received (checked 20 times a second)."""
    deadline = time.monotonic() + WITHIN
    while not condition():
        fleet.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WITHIN}s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def runtime(
    backend: Backend,
    settings: Settings,
    fake_telegram: FakeTelegramAPI,
    fake_vk: FakeVkAPI,  # noqa: F811
    fake_twilio: FakeTwilioAPI,  # noqa: F811
) -> AsyncIterator[Runtime]:
    built = build_runtime(settings_for(backend, fake_telegram, fake_vk, fake_twilio))
    try:
        yield built
    finally:
        await built.close()


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_ten_thousand_members_a_429_a_kill_9_and_a_pause_each_gets_one_message(
    runtime: Runtime,
    fake_telegram: FakeTelegramAPI,
    fake_vk: FakeVkAPI,  # noqa: F811
    fake_twilio: FakeTwilioAPI,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    now = datetime.now(UTC)
    people = population(now)
    await seed(runtime, people, now)
    seeded = time.monotonic()
    for person in people:
        if person.kind == "telegram_blocked":
            fake_telegram.block_chat(int(person.accounts[0].external_id))
        elif person.kind == "vk_blocked":
            fake_vk.block_user(int(person.accounts[0].external_id))
        elif person.kind == "whatsapp_unsubscribed":
            fake_twilio.unsubscribe(person.accounts[0].external_id)
    created = await wiring.broadcasts(runtime.program).create(parse_spec(SPEC), actor="test")
    broadcast_id = created.id
    variants = parse_spec(SPEC).resolved()
    planned = [person for person in people if person.planned]
    expected = {
        person.member_id: expected_for(
            person, variant_for(broadcast_id, person.member_id, variants, 0)
        )
        for person in planned
    }
    # Telegram answers 429 once, a few thousand sends in.
    fake_telegram.rate_limit_next("sendMessage", retry_after=RETRY_AFTER, after=2000)

    settings = runtime.settings
    fleet = Fleet(
        broadcast_id,
        environment(
            settings,
            TELEGRAM_API_URL=fake_telegram.base_url,
            TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            VK_GROUP_TOKEN=fake_vk.token,
            VK_GROUP_ID=str(fake_vk.group_id),
            VK_SECRET=SECRET,
            VK_API_URL=fake_vk.base_url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_WHATSAPP_FROM=f"whatsapp:{SHOP_NUMBER}",
            TWILIO_API_URL=fake_twilio.base_url,
            # Telegram's paid rate; VK's real community limit (its requests, not messages);
            # Twilio's WhatsApp sender at the most the settings take.
            BROADCAST_TELEGRAM_PER_SECOND="1000",
            BROADCAST_VK_PER_SECOND="20",
            BROADCAST_WHATSAPP_PER_SECOND="100",
            BROADCAST_LEASE_SECONDS=str(LEASE_SECONDS),
        ),
        tmp_path,
    )

    def progress() -> int:
        return len(fake_telegram.calls) + len(fake_vk.deliveries) + len(fake_twilio.calls)

    looked, limited = 0, False

    def limited_yet() -> bool:
        """Whether Telegram answered its 429 yet (only the calls since the last look)."""
        nonlocal looked, limited
        calls = fake_telegram.calls
        limited = limited or any(call.status == 429 for call in calls[looked:])
        looked = len(calls)
        return limited

    try:
        first = await fleet.start("first")
        await until(fleet, lambda: progress() >= 200, "the first worker sends")
        second = await fleet.start("second")
        await until(
            fleet,
            lambda: progress() >= 3500 and limited_yet(),
            "a few thousand sends and the 429",
        )
        first.process.send_signal(signal.SIGKILL)  # no cleanup: its batch stays claimed
        await first.process.wait()
        killed_at = time.monotonic()
        at_kill = progress()
        await until(fleet, lambda: progress() >= at_kill + 500, "the second worker goes on")
        await wiring.broadcasts(runtime.program).pause(broadcast_id)
        paused_at = time.monotonic()
        output = await fleet.finished(second)
        assert f"Broadcast {broadcast_id} (Winter sale at scale): paused" in output
        at_pause = progress()
        resumed_at = time.monotonic()
        await wiring.broadcasts(runtime.program).resume(broadcast_id)
        # A fresh worker goes on, the dead one's batch too once its lease has run out.
        await fleet.finished(await fleet.start("third"))
        # What the last worker could not take when it ended (the dead worker's batch, if its
        # lease had not run out yet) goes out at the job worker's next turn: one more
        # broadcast-send here.
        turns = 0
        for turn in range(3):
            pending = await pending_until(runtime, broadcast_id)
            if pending is None:
                break
            turns += 1
            await asyncio.sleep(max(0.0, (pending - datetime.now(UTC)).total_seconds()) + 0.2)
            await fleet.finished(await fleet.start(f"turn-{turn}"))
    finally:
        await fleet.close()
    sent_for = time.monotonic() - seeded

    # ------------------------------------------------------------------ what arrived where
    by_address: dict[tuple[str, str], Person] = {
        (account.channel, account.external_id): person
        for person in people
        for account in person.accounts
    }
    # member -> (channel, address, when, text or (template, variables)) of each message
    received: dict[int, list[tuple[str, str, float, Any]]] = {}

    def arrived(channel: str, address: str, at: float, content: Any) -> None:
        person = by_address[(channel, address)]
        received.setdefault(person.member_id, []).append((channel, address, at, content))

    telegram_sends = [c for c in fake_telegram.calls if c.method.lower() == "sendmessage"]
    for call in telegram_sends:
        if call.status == 200:
            arrived("telegram", str(call.chat_id), call.at, call.params.get("text"))
    for message in fake_vk.deliveries:
        arrived("vk", str(message.peer_id), 0.0, message.message)
    for twilio_call in fake_twilio.calls:
        if twilio_call.status == 201:
            sid = twilio_call.form.get("ContentSid")
            content = (
                (sid[0], json.loads(twilio_call.form["ContentVariables"][0]))
                if sid
                else twilio_call.body
            )
            arrived("whatsapp", twilio_call.number, twilio_call.at, content)
    # Nobody outside the segment, without consent, in their night or blocked got anything.
    outsiders = {p.member_id for p in people if not p.planned}
    assert not outsiders & set(received)
    assert not {m for m, e in expected.items() if e.status != "sent"} & set(received)

    twice: list[int] = []
    for member_id, wanted in expected.items():
        if wanted.status != "sent":
            continue
        got = received.get(member_id, [])
        assert got, (member_id, wanted)
        content = (TEMPLATE_SID, wanted.template) if wanted.template else wanted.text
        for channel, address, _, delivered_content in got:
            assert (channel, address, delivered_content) == (
                wanted.channel,
                wanted.address,
                content,
            ), (member_id, got)
        if len(got) > 1:
            # VK drops a repeated random_id to the same peer: never twice there.
            assert wanted.channel != "vk", (member_id, got)
            twice.append(member_id)

    rows = await delivery_rows(runtime, broadcast_id)
    assert set(rows) == set(expected)
    # Only the sends in flight at the kill came twice: the dead worker's last batch at most
    # (one claim), each first sent shortly before the kill, and taken over after its lease.
    assert len(twice) <= DEFAULT_BATCH, len(twice)
    first_sent_by = {
        str(call.chat_id): call.token for call in reversed(telegram_sends) if call.status == 200
    }
    for member_id in twice:
        first_at = min(at for _, _, at, _ in received[member_id])
        # A request the dead worker wrote just before the signal may be answered by the
        # in-process fake a moment after `killed_at` was read; nobody else may send it before
        # the dead worker's lease (LEASE_SECONDS) has run out.
        assert killed_at - 3.0 <= first_at <= killed_at + 1.0, (member_id, received[member_id])
        assert rows[member_id].attempts >= 2
        if expected[member_id].channel == "telegram":
            # Sent first by the killed worker (Telegram sends carry each worker's token).
            assert first_sent_by[expected[member_id].address] == token_of("first")

    # ------------------------------------------------------------------ the rows
    for member_id, wanted in expected.items():
        row = rows[member_id]
        assert (row.status, row.reason) == (wanted.status, wanted.reason), (member_id, wanted)
        if wanted.channel:
            assert row.channel == wanted.channel, (member_id, wanted)
    # Only the dead worker's one batch was claimed twice (a 429 or a pause gives the attempt
    # back); nobody a third time.
    taken_over = {member_id for member_id, row in rows.items() if row.attempts > 1}
    assert len(taken_over) <= DEFAULT_BATCH, len(taken_over)
    assert max(row.attempts for row in rows.values()) <= 2
    # A blocked account was tried once, not retried (twice if the dead worker had tried it);
    # on VK its row says so (how many peers a request names is the VK channel's business).
    refusals = Counter(
        [
            *(str(c.chat_id) for c in telegram_sends if c.status == 403),
            *(c.number for c in fake_twilio.calls if c.error_code == 21610),
        ]
    )
    for person in planned:
        if person.kind in ("telegram_blocked", "whatsapp_unsubscribed"):
            tried = refusals[person.accounts[0].external_id]
            assert tried == 1 or (tried == 2 and person.member_id in taken_over), person
        if person.blocked:
            assert rows[person.member_id].attempts == 1 or person.member_id in taken_over
    quiet = QuietHours()
    night = [person for person in planned if person.night]
    for person in night:
        morning = quiet_until(datetime.now(UTC), ZoneInfo(person.zone), quiet)
        assert morning is not None and rows[person.member_id].not_before == morning

    # ------------------------------------------------------------------ the 429 and the pause
    (too_many,) = [call for call in telegram_sends if call.status == 429]
    during = [
        call
        for call in telegram_sends
        if too_many.at + 1.0 < call.at < too_many.at + RETRY_AFTER - 0.1
    ]
    # Nobody sent while Telegram asked us to wait (after the first second: what the other
    # worker had under way before the one that got the 429 held the lane in Redis).
    assert during == []
    # The second worker stopped within a second or so of the pause (the state is read every
    # half second; the sends under way finish; a loaded machine), nothing was sent until the
    # resume.
    all_sends = [
        *(call.at for call in telegram_sends),
        *(call.at for call in fake_vk.calls),
        *(call.at for call in fake_twilio.calls),
    ]
    assert [at for at in all_sends if paused_at + 2.0 < at < resumed_at] == []
    assert progress() > at_pause  # the resume went on

    # ------------------------------------------------------------------ the operator's view
    # The command in this process (the same main.main; a process start costs seconds of CPU).
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    capsys.readouterr()
    command = ["broadcast-status", "--json", str(broadcast_id)]
    assert await asyncio.to_thread(main.main, command) == 0
    status = json.loads(capsys.readouterr().out)
    delivered = Counter(expected[member_id].channel for member_id in received)
    skipped = Counter(wanted.reason for wanted in expected.values() if wanted.status == "skipped")
    assert status["state"] == "sending"  # the night's members wait for their morning
    assert status["recipients"] == len(planned)
    assert status["sent"] == len(received)
    assert status["by_channel"] == dict(delivered)
    assert status["skipped_by_reason"] == dict(skipped)
    assert (status["queued"], status["waiting"]) == (len(night), len(night))
    assert (status["in_flight"], status["failed"]) == (0, 0)
    total = time.monotonic() - started
    print(
        f"\n{MEMBERS} members: seeded in {seeded - started:.1f} s, sent in {sent_for:.1f} s,"
        f" {total:.1f} s in all; sent {status['sent']} {dict(delivered)},"
        f" twice {len(twice)}, skipped {dict(skipped)}, waiting {len(night)};"
        f" 429 at {too_many.at - seeded:.1f} s, kill at {killed_at - seeded:.1f} s ({at_kill}),"
        f" pause at {paused_at - seeded:.1f} s ({at_pause}), {turns} more turn(s)"
    )


async def delivery_rows(runtime: Runtime, broadcast_id: int) -> dict[int, BroadcastDelivery]:
    async with runtime.db.reading() as session:
        found = await session.scalars(
            select(BroadcastDelivery).where(BroadcastDelivery.broadcast_id == broadcast_id)
        )
        return {row.member_id: row for row in found}


async def pending_until(runtime: Runtime, broadcast_id: int) -> datetime | None:
    """When the first recipient left behind (not one waiting for their morning) can be taken:
    a lease or a 429's wait that had not run out when the last worker ended."""
    d = BroadcastDelivery
    now = datetime.now(UTC)
    takeable_at = func.coalesce(d.claimed_until, d.not_before, now)
    async with runtime.db.reading() as session:
        return await session.scalar(
            select(func.min(takeable_at)).where(
                d.broadcast_id == broadcast_id,
                d.status.in_(("queued", "sending")),
                takeable_at < now + timedelta(minutes=1),
            )
        )
