"""A broadcast's image is read once, at broadcast-create, and kept in the database: a worker on
another machine (here: a process in another folder, after the file is gone) sends it on every
channel (Telegram: a photo with its caption, uploaded once and then sent by file_id; VK: a
photo attachment; WhatsApp: a MediaUrl our web app serves from the database), a paid Telegram
broadcast's photos are paid too, a file no channel takes is refused at create, and an older
broadcast that names a path fails alone, with the reason, never taking others down with it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select, update

import main
from app.runtime import build_runtime
from app.settings import Settings
from core.broadcasts.images import MAX_IMAGE_BYTES
from core.broadcasts.spec import parse_spec
from core.db.models import Broadcast, BroadcastImage, Identity, PendingEvent, TriggerFiring
from core.shared import qr
from tests import test_broadcasts
from tests.clocks import TEST_DAY, ShiftedClock
from tests.conftest import Backend
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import text_of
from tests.test_broadcasts import PLAIN, Shop, add_members, settings_for, spec, telegram_ids
from tests.test_console import run_cli
from tests.test_triggers import buy, members
from tests.test_vk import SECRET, fake_vk  # noqa: F401 - fixture
from tests.whatsapp_member import (  # noqa: F401 - fixture
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    fake_twilio,
    free_port,
)

# The broadcasts' shop (a runtime on the fake Telegram, VK and Twilio servers).
shop = test_broadcasts.shop
# Quiet hours off: the command-line processes run on real time, at any hour.
AWAKE = {"start": 0, "end": 0}
PICTURE = qr.png("spring offer")


@dataclass
class Online:
    """The shop with its web app serving at PUBLIC_URL (what Twilio fetches media from)."""

    shop: Shop
    public_url: str

    def env(self, **extra: str) -> dict[str, str]:
        """A command-line process's environment for every fake channel."""
        vk = self.shop.vk
        return self.shop.telegram_env(
            VK_GROUP_TOKEN=vk.token,
            VK_GROUP_ID=str(vk.group_id),
            VK_SECRET=SECRET,
            VK_API_URL=vk.base_url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_WHATSAPP_FROM=f"whatsapp:{SHOP_NUMBER}",
            TWILIO_API_URL=self.shop.twilio.base_url,
            PUBLIC_URL=self.public_url,
            **extra,
        )

    @property
    def settings(self) -> Settings:
        return self.shop.runtime.settings


@pytest.fixture
async def online(
    backend: Backend,
    settings: Settings,
    fake_telegram: FakeTelegramAPI,
    fake_vk: FakeVkAPI,  # noqa: F811
    fake_twilio: FakeTwilioAPI,  # noqa: F811
) -> AsyncIterator[Online]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    clock = ShiftedClock()
    clock.offset = TEST_DAY - datetime.now(UTC)
    runtime = build_runtime(
        settings_for(backend, fake_telegram, fake_vk, fake_twilio, public_url=public_url),
        clock=clock,
    )
    server = TestServer(runtime.web_app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield Online(Shop(runtime, clock, fake_telegram, fake_vk, fake_twilio), public_url)
    finally:
        await server.close()
        await runtime.close()


def write_spec(folder: Path, **overrides: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    values = spec(**{**PLAIN, "text": "Spring is here", "quiet_hours": AWAKE, **overrides})
    path = folder / "broadcast.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


async def create_in(online: Online, folder: Path, **overrides: Any) -> int:
    """broadcast-create run in `folder` (where the image's relative path points)."""
    write_spec(folder, **overrides)
    code, out, err = await run_cli(
        online.settings, "broadcast-create", "--file", "broadcast.json", cwd=folder
    )
    assert code == 0, err
    return int(out.strip())


async def fetch(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.content_type, await response.read()


async def test_an_image_created_in_one_folder_reaches_every_channel_from_anywhere(
    online: Online, tmp_path: Path
) -> None:
    shop = online.shop
    await add_members(shop, "telegram", telegram_ids(8100, 3))
    await add_members(shop, "vk", telegram_ids(8200, 2))
    numbers = ["+49990008301", "+49990008302"]
    await add_members(shop, "whatsapp", numbers)
    async with shop.runtime.db.transaction() as session:
        # They wrote to us just now (real time: the sending process's clock).
        await session.execute(
            update(Identity)
            .where(Identity.channel == "whatsapp")
            .values(last_seen_at=datetime.now(UTC))
        )
    marketing = tmp_path / "marketing"
    marketing.mkdir()
    (marketing / "spring.png").write_bytes(PICTURE)
    broadcast_id = await create_in(online, marketing, image="spring.png")
    # The file is gone, and the sender runs in another folder: only the database has it.
    (marketing / "spring.png").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    code, out, err = await run_cli(
        online.settings, "broadcast-preview", str(broadcast_id), cwd=elsewhere, env=online.env()
    )
    assert code == 0, err
    assert len(PICTURE) < 1024  # a small image is shown in bytes, never "0 KB"
    assert f"[image: spring.png, PNG, {len(PICTURE)} bytes]" in out

    code, out, err = await run_cli(
        online.settings, "broadcast-send", str(broadcast_id), cwd=elsewhere, env=online.env()
    )
    assert code == 0, err
    assert f"Broadcast {broadcast_id} (Spring offer): done" in out
    assert "sent 7" in out and "failed 0" in out

    # Telegram: a photo with the text as its caption; uploaded once, then sent by its file_id.
    photos = shop.telegram.calls_of("sendPhoto")
    assert sorted(call.chat_id for call in photos) == [8100, 8101, 8102]
    assert {text_of(call) for call in photos} == {"Spring is here"}
    assert shop.telegram.calls_of("sendMessage") == []
    uploads = [call for call in photos if call.files]
    assert [call.files["photo"] for call in uploads] == [PICTURE]
    by_id = [call for call in photos if not call.files]
    assert len(by_id) == 2
    assert all(call.params["photo"] in shop.telegram.issued_file_ids for call in by_id)
    assert {call.status for call in photos} == {200}
    # VK: the photo attachment, of these very bytes.
    for external in telegram_ids(8200, 2):
        (message,) = shop.vk.sent_to(int(external))
        assert message.message == "Spring is here"
        assert (message.attachment or "").startswith("photo")
    assert list(shop.vk.photos.values()) == [PICTURE]
    # WhatsApp: a link to our web app, which serves the same bytes from the database.
    prefix = f"{online.public_url}/media/whatsapp/broadcast/{broadcast_id}/"
    for number in numbers:
        (sent,) = shop.twilio.sent_to(number)
        assert sent.body == "Spring is here"
        (media_url,) = sent.media_urls
        assert media_url.startswith(prefix) and media_url.endswith(".png")
        assert await fetch(media_url) == (200, "image/png", PICTURE)
    # The digest is the link's secret: another one, or another broadcast's, is not found.
    digest = urlsplit(media_url).path.rsplit("/", 1)[1].removesuffix(".png")
    forged = [
        f"{prefix}{'0' * 64}.png",
        f"{prefix}{digest}.jpg",
        media_url.replace(f"/broadcast/{broadcast_id}/", f"/broadcast/{broadcast_id + 1}/"),
    ]
    for url in forged:
        assert (await fetch(url))[0] == 404, url


async def test_a_paid_broadcasts_photos_are_paid_too(online: Online, tmp_path: Path) -> None:
    shop = online.shop
    await add_members(shop, "telegram", telegram_ids(8400, 3))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "offer.png").write_bytes(PICTURE)
    broadcast_id = await create_in(online, tmp_path / "a", image="offer.png")
    paid = shop.telegram_env(BROADCAST_TELEGRAM_PAID="true")

    code, out, err = await run_cli(
        online.settings, "broadcast-send", str(broadcast_id), "--yes", cwd=tmp_path, env=paid
    )

    assert code == 0, err
    assert "at most 0.3 Stars for 3 recipients" in out
    photos = shop.telegram.calls_of("sendPhoto")
    assert sorted(call.chat_id for call in photos) == [8400, 8401, 8402]
    assert all(call.params.get("allow_paid_broadcast") is True for call in photos)
    assert len([call for call in photos if call.files]) == 1


async def test_an_unpaid_broadcasts_photos_are_not_paid(shop: Shop, tmp_path: Path) -> None:
    await add_members(shop, "telegram", telegram_ids(8450, 2))
    image = tmp_path / "offer.png"
    image.write_bytes(PICTURE)
    broadcast_id = await shop.create(**PLAIN, text="Spring", image=str(image))
    await shop.send(broadcast_id)
    photos = shop.telegram.calls_of("sendPhoto")
    assert len(photos) == 2
    assert all("allow_paid_broadcast" not in call.params for call in photos)


@pytest.mark.parametrize(
    ("name", "content", "refusal"),
    [
        (
            "huge.png",
            PICTURE[:8] + b"\0" * MAX_IMAGE_BYTES,
            "Refused: image: huge.png is 5.0 MB; every channel takes images of at most 5 MB "
            "(WhatsApp's limit)",
        ),
        (
            "notes.png",
            b"just some text, not a picture",
            "Refused: image: notes.png is not a PNG or JPEG image (the types every channel takes)",
        ),
        (
            "anim.gif",
            b"GIF89a\x01\x00\x01\x00",
            "Refused: image: anim.gif is not a PNG or JPEG image (the types every channel takes)",
        ),
        ("empty.png", b"", "Refused: image: empty.png is empty"),
        ("gone.png", None, "Refused: image: no image file at gone.png"),
    ],
)
async def test_an_image_no_channel_takes_is_refused_at_create(
    online: Online, tmp_path: Path, name: str, content: bytes | None, refusal: str
) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    write_spec(tmp_path, image=name)

    code, out, err = await run_cli(
        online.settings, "broadcast-create", "--file", "broadcast.json", cwd=tmp_path
    )

    assert (code, out) == (1, "")
    assert err.strip() == refusal
    async with online.shop.runtime.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0
        assert await session.scalar(select(func.count()).select_from(BroadcastImage)) == 0


async def test_a_jpeg_is_kept_and_served_as_one(shop: Shop, tmp_path: Path) -> None:
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
    (tmp_path / "photo.jpeg").write_bytes(photo)
    broadcast_id = await shop.create(**PLAIN, text="Hi", image=str(tmp_path / "photo.jpeg"))
    async with shop.runtime.db.reading() as session:
        (row,) = (await session.scalars(select(BroadcastImage))).all()
        stored = await session.get(Broadcast, broadcast_id)
    assert (row.content_type, row.filename, row.content) == ("image/jpeg", "photo.jpeg", photo)
    assert stored is not None
    assert json.loads(stored.spec)["image"] == f"sha256:{row.digest}"


async def legacy(shop: Shop, **overrides: Any) -> int:
    """A broadcast as an older version stored it: its image named by a path."""
    values = spec(**{**PLAIN, "text": "Old offer", "quiet_hours": AWAKE, **overrides})
    async with shop.runtime.db.transaction() as session:
        row = Broadcast(
            name="Old offer",
            spec=parse_spec(values).model_dump_json(exclude_none=True),
            state="draft",
            created_by="test",
            created_at=shop.clock.now(),
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_an_old_broadcast_whose_image_path_is_unreadable_fails_alone(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await add_members(shop, "telegram", telegram_ids(8500, 2))
    old = await legacy(shop, image="img.png")
    new = await shop.create(**PLAIN, text="New offer", quiet_hours=AWAKE)
    broadcasts = shop.engine.broadcasts
    settings = shop.runtime.settings
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.chdir(tmp_path)

    # Still previewed (the image said to be missing) and reported.
    assert await asyncio.to_thread(main.main, ["broadcast-preview", str(old)]) == 0
    out = capsys.readouterr().out
    assert "Old offer" in out
    assert "[image: img.png is not stored with the broadcast: it cannot be sent" in out
    assert await asyncio.to_thread(main.main, ["broadcast-status", str(old)]) == 0
    assert f"Broadcast {old} (Old offer): draft" in capsys.readouterr().out

    await broadcasts.start(old)
    await broadcasts.start(new)
    report = await shop.engine.run_due()

    # The later broadcast went; the old one failed, saying why; nobody got half of it.
    assert sorted(text_of(call) for call in shop.telegram.calls_of("sendMessage")) == [
        "New offer",
        "New offer",
    ]
    assert shop.telegram.calls_of("sendPhoto") == []
    assert report.sent == 2
    status = await broadcasts.status(old)
    assert status.state == "failed" and status.sent == 0
    assert status.failure is not None and "img.png is not stored with it" in status.failure
    assert await asyncio.to_thread(main.main, ["broadcast-status", "--json", str(old)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["state"], shown["failure"]) == ("failed", status.failure)
    assert await asyncio.to_thread(main.main, ["broadcast-status", str(old)]) == 0
    assert f"it cannot be sent: {status.failure}" in capsys.readouterr().out

    # Sending it again says why it cannot; cancelling it ends it.
    assert await asyncio.to_thread(main.main, ["broadcast-send", str(old)]) == 1
    assert f"Refused: broadcast {old} failed: " in capsys.readouterr().err
    assert await asyncio.to_thread(main.main, ["broadcast-cancel", str(old)]) == 0
    assert capsys.readouterr().out.strip() == f"Broadcast {old} is cancelled."


async def test_an_old_triggered_rule_with_an_image_path_never_fails_a_purchase(
    shop: Shop,
) -> None:
    (member,) = await members(shop, ["8601"])
    rule = await legacy(shop, image="img.png", trigger={"kind": "first_purchase"})
    await shop.engine.broadcasts.start(rule)

    # The purchase's subscriber fires the rule (nothing reads the image there) ...
    await buy(shop, member, "100", "first")
    await shop.engine.run_due()

    # ... every event handled (none left for the retry job) ...
    async with shop.runtime.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(PendingEvent)) == 0
        fired = await session.scalar(
            select(func.count())
            .select_from(TriggerFiring)
            .where(TriggerFiring.broadcast_id == rule)
        )
    assert fired == 1
    # ... and the engine fails the rule alone, its queued recipient skipped, not sent.
    status = await shop.engine.broadcasts.status(rule)
    assert status.state == "failed"
    assert status.skipped_by_reason == {"failed": 1}
    assert shop.telegram.calls_of("sendMessage") == shop.telegram.calls_of("sendPhoto") == []


def test_the_spec_names_a_stored_image_by_digest_and_reads_no_file() -> None:
    """Parsing never looks at the disk: a path that exists nowhere parses (the file is read
    by broadcast-create, the only place that may look for it)."""
    parsed = parse_spec(spec(image="/nowhere/at/all.png"))
    assert parsed.images() == {"/nowhere/at/all.png"}
    digest = "ab" * 32
    stored = parsed.with_images({"/nowhere/at/all.png": f"sha256:{digest}"})
    assert stored.image == f"sha256:{digest}"
    assert stored.variants[1].image is None  # takes the broadcast's
    assert {variant.image for variant in stored.resolved()} == {f"sha256:{digest}"}


async def test_a_broadcast_image_without_a_row_is_not_served(online: Online) -> None:
    status, _, _ = await fetch(f"{online.public_url}/media/whatsapp/broadcast/1/{'a' * 64}.png")
    assert status == 404
    # Nothing but a digest is taken as one.
    status, _, _ = await fetch(f"{online.public_url}/media/whatsapp/broadcast/1/x.png")
    assert status == 404


async def test_a_broadcast_this_version_cannot_read_holds_up_no_other(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    await add_members(shop, "telegram", telegram_ids(8700, 2))
    unreadable = await shop.create(**PLAIN, text="From the future", quiet_hours=AWAKE)
    later = await shop.create(**PLAIN, text="Today's offer", quiet_hours=AWAKE)
    for broadcast_id in (unreadable, later):
        await shop.engine.broadcasts.start(broadcast_id)
    async with shop.runtime.db.transaction() as session:
        row = await session.get(Broadcast, unreadable)
        assert row is not None
        # A field this version does not know (written by a newer one, say).
        row.spec = json.dumps({**json.loads(row.spec), "sparkles": True})

    report = await shop.engine.run_due()

    assert report.sent == 2
    texts = sorted(text_of(call) for call in shop.telegram.calls_of("sendMessage"))
    assert texts == ["Today's offer", "Today's offer"]
    assert f"broadcast {unreadable} could not be sent; the others go on" in caplog.text


async def test_a_file_id_telegram_no_longer_takes_is_uploaded_again(
    shop: Shop, tmp_path: Path
) -> None:
    await add_members(shop, "telegram", telegram_ids(8800, 2))
    image = tmp_path / "offer.png"
    image.write_bytes(PICTURE)
    first = await shop.create(**PLAIN, text="One", image=str(image))
    await shop.send(first)
    assert len([call for call in shop.telegram.calls_of("sendPhoto") if call.files]) == 1
    # Telegram forgot the file (the same bytes, a later broadcast: the same digest).
    shop.telegram.issued_file_ids.clear()
    second = await shop.create(**PLAIN, text="Two", image=str(image))

    # A send by the forgotten file_id fails (and is retried); one that comes after that
    # failure may upload at once.
    await shop.send(second)
    assert (await shop.engine.broadcasts.status(second)).sent < 2
    shop.clock.offset += timedelta(minutes=5)  # past the retry's backoff
    await shop.engine.run(second)

    status = await shop.engine.broadcasts.status(second)
    assert (status.state, status.sent) == ("done", 2)
    uploads = [call for call in shop.telegram.calls_of("sendPhoto") if call.files]
    assert [text_of(call) for call in uploads] == ["One", "Two"]
