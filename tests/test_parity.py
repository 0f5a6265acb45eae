"""One scripted member journey on every channel, through one runtime built by main.py: the
same answers and the same rows in the database, so no channel can silently fall behind."""

from __future__ import annotations

import asyncio
import io
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from app.runtime import Runtime, build_runtime
from bots.console import ConsoleChannel
from core.db.models import Consent, LedgerEntry, Member
from core.members.accounts import IdentityKey
from core.shared.clock import Clock
from tests.conftest import TELEGRAM_TOKEN, WEBHOOK_SECRET, Backend, make_settings
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import TelegramMember, text_of, webhook_delivery
from tests.test_vk import CONFIRMATION_CODE, GROUP_ID, SECRET, VkMember
from tests.test_whatsapp import WhatsAppMember
from tests.whatsapp_member import ACCOUNT_SID, AUTH_TOKEN, SHOP_NUMBER


class Driver(Protocol):
    channel: str
    user_id: str

    async def start(self) -> str: ...
    async def press(self, action: str, label: str) -> str: ...
    async def say(self, text: str) -> str: ...
    def got_card_image(self) -> bool: ...


class TelegramDriver:
    channel = "telegram"

    def __init__(self, member: TelegramMember) -> None:
        self._member = member
        self.user_id = str(member.user_id)

    async def start(self) -> str:
        return text_of(await self._member.send("/start"))

    async def press(self, action: str, label: str) -> str:
        return text_of(await self._member.press(action))

    async def say(self, text: str) -> str:
        return text_of(await self._member.send(text))

    def got_card_image(self) -> bool:
        return any(call.method == "sendPhoto" for call in self._member.received)


class VkDriver:
    channel = "vk"

    def __init__(self, member: VkMember) -> None:
        self._member = member
        self.user_id = str(member.user_id)

    async def start(self) -> str:
        return (await self._member.send("Start", payload={"command": "start"}))[-1].message

    async def press(self, action: str, label: str) -> str:
        return (await self._member.press(action))[-1].message

    async def say(self, text: str) -> str:
        return (await self._member.send(text))[-1].message

    def got_card_image(self) -> bool:
        return any(str(sent.attachment or "").startswith("photo") for sent in self._member.received)


class WhatsAppDriver:
    channel = "whatsapp"

    def __init__(self, member: WhatsAppMember) -> None:
        self._member = member
        self.user_id = member.number

    async def start(self) -> str:
        return (await self._member.say("Hi")).body

    async def press(self, action: str, label: str) -> str:
        return (await self._member.choose(label)).body

    async def say(self, text: str) -> str:
        return (await self._member.say(text)).body

    def got_card_image(self) -> bool:
        return any(sent.media_urls for sent in self._member.received)


class ConsoleDriver:
    """The console channel in-process: lines in through a queue, the screen in a buffer."""

    channel = "console"

    def __init__(
        self, runtime: Runtime, images: Path, *, user_id: str = "parity", language_code: str = "en"
    ) -> None:
        self.user_id = user_id
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._waiting = asyncio.Event()
        self._screen = io.StringIO()
        self._images = images
        self._console = ConsoleChannel(
            runtime.conversation,
            user_id=self.user_id,
            language_code=language_code,
            display_name=None,
            read_line=self._read_line,
            output=self._screen,
            images_dir=images,
        )
        self._task: asyncio.Task[None] | None = None

    async def _read_line(self) -> str:
        self._waiting.set()
        return await self._lines.get()

    async def _turn(self, line: str | None) -> str:
        before = len(self._screen.getvalue())
        self._waiting.clear()
        if line is None:
            self._task = asyncio.create_task(self._console.run())
        else:
            await self._lines.put(line)
        await asyncio.wait_for(self._waiting.wait(), 10)
        return self._screen.getvalue()[before:].strip()

    async def start(self) -> str:
        return await self._turn(None)

    async def press(self, action: str, label: str) -> str:
        screen = self._screen.getvalue()
        numbers = re.findall(rf"^  (\d+)\) [^\n]*{re.escape(label)}[^\n]*$", screen, re.M)
        assert numbers, f"no choice {label!r} on the console screen"
        return await self._turn(numbers[-1])

    async def say(self, text: str) -> str:
        return await self._turn(text)

    def got_card_image(self) -> bool:
        return any(self._images.glob("card-*.png"))

    async def stop(self) -> None:
        await self._lines.put("")
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)


@dataclass
class WhatsAppApp:
    """What WhatsAppMember needs to know of the app it talks to."""

    runtime: Runtime
    client: TestClient[Any, Any]
    fake: FakeTwilioAPI
    public_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def join_without_offers(driver: Driver) -> None:
    """Join in the messenger's language (English here): /start, accept the terms, no offers."""
    assert "Welcome to Loyalty Club" in await driver.start()
    await driver.press("terms:accept", "I accept the terms")
    assert "Your card is ready!" in await driver.press("consent:no", "No, thanks")


async def journey(driver: Driver) -> None:
    """Join with consent to offers (three taps), balance, card, switch to Russian, opt out,
    history, then the birthday in the profile."""
    welcome = await driver.start()
    assert "Welcome to Loyalty Club" in welcome and "Here is how it works" in welcome
    assert "personal offers" in await driver.press("terms:accept", "I accept the terms")
    done = await driver.press("consent:yes", "Yes, please")
    assert "Your card is ready! You get 100 points" in done
    assert "👤 Profile" in done
    assert (await driver.say("balance")).startswith("You have 100 points.")
    assert "Your card:" in await driver.say("card")
    assert driver.got_card_image(), f"{driver.channel}: the card QR was not delivered"
    assert "Choose your language" in await driver.say("language")
    assert "теперь общаемся на русском" in await driver.press("lang:ru", "Русский")
    assert "предложений больше не будет" in await driver.say("стоп")
    assert "Приветственный бонус" in await driver.say("история")
    assert "День рождения: не указан" in await driver.say("профиль")
    assert "ДД.ММ.ГГГГ" in await driver.press("profile:birthday", "🎂 День рождения")
    assert "ваш день рождения 25 декабря 1990" in await driver.say("25.12.1990")


async def rows_of(runtime: Runtime, channel: str, user_id: str) -> dict[str, Any]:
    member = await runtime.program.members.find(IdentityKey(channel, user_id))
    assert member is not None, f"{channel}: no member"
    async with runtime.db.reading() as session:
        row = await session.get(Member, member.id)
        entries = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.member_id == member.id).order_by(LedgerEntry.id)
        )
        consents = await session.scalars(
            select(Consent).where(Consent.member_id == member.id).order_by(Consent.id)
        )
        assert row is not None
        return {
            "member": (row.language, row.marketing_opt_in, row.balance, row.birthday),
            "ledger": [(entry.points, entry.reason, entry.balance_after) for entry in entries],
            "consents": [(c.kind, c.granted, c.channel == channel) for c in consents],
            "phone": (row.phone, row.phone_verified),
        }


@dataclass
class EveryChannel:
    """One runtime built by main.py with every messenger pointed at its fake, and a member's
    driver per channel (the console's runs in-process)."""

    runtime: Runtime
    drivers: list[Driver]
    console: ConsoleDriver
    # For tests that post raw updates: the web app's client and the platforms' fakes.
    client: TestClient[Any, Any]
    telegram: FakeTelegramAPI
    vk: FakeVkAPI
    twilio: FakeTwilioAPI
    public_url: str


@asynccontextmanager
async def every_channel(
    backend: Backend,
    images: Path,
    user_ids: tuple[int, int, str],
    *,
    clock: Clock | None = None,
) -> AsyncIterator[EveryChannel]:
    """`user_ids`: the Telegram and VK user ids and the WhatsApp number of the members. The
    console is stopped on the way out; the runtime is closed after the body's last query."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    telegram_id, vk_id, whatsapp_number = user_ids
    async with (
        FakeTelegramAPI() as telegram,
        FakeVkAPI(group_id=GROUP_ID, secret=SECRET) as vk,
        FakeTwilioAPI(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as twilio,
    ):
        runtime = build_runtime(
            make_settings(
                backend,
                public_url=public_url,
                telegram_bot_token=TELEGRAM_TOKEN,
                telegram_api_url=telegram.base_url,
                telegram_webhook_secret=WEBHOOK_SECRET,
                vk_group_token=vk.token,
                vk_group_id=GROUP_ID,
                vk_confirmation_code=CONFIRMATION_CODE,
                vk_secret=SECRET,
                vk_api_url=vk.base_url,
                twilio_account_sid=ACCOUNT_SID,
                twilio_auth_token=AUTH_TOKEN,
                twilio_whatsapp_from=SHOP_NUMBER,
                twilio_api_url=twilio.base_url,
            ),
            clock=clock,
        )
        try:
            server = TestServer(runtime.web_app, host="127.0.0.1", port=port)
            async with TestClient(server) as client:
                console = ConsoleDriver(runtime, images)
                app = WhatsAppApp(runtime, client, twilio, public_url)
                drivers: list[Driver] = [
                    TelegramDriver(
                        TelegramMember(telegram, webhook_delivery(client), user_id=telegram_id)
                    ),
                    VkDriver(VkMember(vk, client, vk_id)),
                    WhatsAppDriver(WhatsAppMember(app, whatsapp_number)),
                    console,
                ]
                try:
                    yield EveryChannel(
                        runtime, drivers, console, client, telegram, vk, twilio, public_url
                    )
                finally:
                    await console.stop()
        finally:
            await runtime.close()


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_the_same_journey_leaves_the_same_rows_on_every_channel(
    backend: Backend, settings: Any, tmp_path: Path
) -> None:
    users = (8001, 8002, "+49998008003")
    async with every_channel(backend, tmp_path / "console", users) as channels:
        for driver in channels.drivers:
            await journey(driver)
        runtime = channels.runtime
        rows = {d.channel: await rows_of(runtime, d.channel, d.user_id) for d in channels.drivers}

    reference = rows["telegram"]
    assert reference["member"] == ("ru", False, 100, date(1990, 12, 25))
    assert reference["ledger"] == [(100, "welcome", 100)]
    assert reference["consents"] == [
        ("terms", True, True),
        ("marketing", True, True),
        ("marketing", False, True),
    ]
    for channel, found in rows.items():
        for part in ("member", "ledger", "consents"):
            assert found[part] == reference[part], f"{channel} differs in {part}"
    # The one designed difference: WhatsApp vouches for the sender's number.
    assert rows["whatsapp"]["phone"] == ("+49998008003", True)
    assert {rows[c]["phone"] for c in ("telegram", "vk", "console")} == {(None, False)}


async def quest_journey(driver: Driver, quest: int) -> None:
    """Games -> Quests -> a quiz quest: join, a wrong choice, the right one, done."""
    await join_without_offers(driver)
    assert "Games: pick one." in await driver.say("games")
    assert "One quest you can do" in await driver.press("menu:quests", "Quests")
    assert "▫️ 1. Answer: Sky colour?" in await driver.press(f"quest:{quest}", "Colours")
    assert "You have joined the quest" in await driver.press(f"quest:join:{quest}", "Join")
    assert "Not quite" in await driver.press(f"quest:choice:{quest}:0:1", "Red")
    right = await driver.press(f"quest:choice:{quest}:0:2", "Blue")
    assert "✅ Right!" in right and "You have completed this quest" in right


@pytest.mark.parametrize("backend", ["embedded", "services"], indirect=True)
async def test_the_same_quest_on_every_channel(
    backend: Backend, settings: Any, tmp_path: Path
) -> None:
    from core.db.models import QuestCompletion
    from core.games.quests.definition import parse_definition

    users = (8101, 8102, "+49998008103")
    async with every_channel(backend, tmp_path / "console", users) as channels:
        runtime = channels.runtime
        quest = await runtime.program.quests.create(
            parse_definition(
                {
                    "slug": "colours",
                    "title": "Colours",
                    "starts": "2026-01-01T00:00:00+00:00",
                    "steps": [
                        {
                            "kind": "quiz",
                            "question": "Sky colour?",
                            "choices": ["Red", "Blue"],
                            "correct": 2,
                        }
                    ],
                    "reward": {"points": 10},
                }
            ),
            actor="t",
        )
        for driver in channels.drivers:
            await quest_journey(driver, quest.id)
        rows = {d.channel: await rows_of(runtime, d.channel, d.user_id) for d in channels.drivers}
        async with runtime.db.reading() as session:
            completions = list(await session.scalars(select(QuestCompletion.period)))
    assert completions == ["once"] * 4
    for channel, found in rows.items():
        assert found["ledger"] == [(100, "welcome", 100), (10, "quest", 110)], channel
