"""A Telegram member as tests drive one: real-shaped updates in, what the bot sent out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from app.runtime import Runtime
from tests.conftest import WEBHOOK_SECRET
from tests.fakes.telegram_api import FakeTelegramAPI, RecordedCall

Deliver = Callable[[dict[str, Any]], Awaitable[None]]


def inline_actions(call: RecordedCall) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


def inline_labels(call: RecordedCall) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [button["text"] for row in markup.get("inline_keyboard", []) for button in row]


def keyboard_labels(call: RecordedCall) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [button["text"] for row in markup.get("keyboard", []) for button in row]


def text_of(call: RecordedCall) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


class TelegramMember:
    def __init__(
        self,
        fake: FakeTelegramAPI,
        deliver: Deliver,
        *,
        user_id: int,
        language_code: str = "en",
        first_name: str = "Ann",
        last_name: str | None = None,
    ) -> None:
        self.fake = fake
        self._deliver = deliver
        self.user_id = user_id
        self.language_code = language_code
        self.first_name = first_name
        self.last_name = last_name

    @property
    def received(self) -> list[RecordedCall]:
        return self.fake.sent_to(self.user_id)

    @property
    def last(self) -> RecordedCall:
        return self.received[-1]

    def _message(self, **fields: Any) -> dict[str, Any]:
        return self.fake.message_update(
            user_id=self.user_id,
            language_code=self.language_code,
            first_name=self.first_name,
            last_name=self.last_name,
            **fields,
        )

    async def send(self, text: str) -> RecordedCall:
        return await self.exchange(self._message(text=text))

    async def share_contact(self, phone: str, *, own: bool = True) -> RecordedCall:
        update = self.fake.contact_update(
            user_id=self.user_id,
            phone_number=phone,
            contact_user_id=self.user_id if own else self.user_id + 1,
            first_name=self.first_name,
            language_code=self.language_code,
        )
        return await self.exchange(update)

    async def press(self, action: str) -> RecordedCall:
        """Press an inline button of the latest message that has it."""
        for call in reversed(self.received):
            if action in inline_actions(call):
                message_id = call.params.get("message_id")
                update = self.fake.callback_update(
                    user_id=self.user_id,
                    data=action,
                    message_id=message_id,
                    language_code=self.language_code,
                )
                return await self.exchange(update)
        raise AssertionError(f"no message offers the button {action!r}")

    async def exchange(self, update: dict[str, Any]) -> RecordedCall:
        before = len(self.received)
        await self._deliver(update)
        sent = await self.fake.wait_for_sent(self.user_id, before + 1)
        return sent[-1]

    async def sign_up(
        self, *, language: str | None = None, marketing: bool = False
    ) -> RecordedCall:
        """The shortest sign-up: /start, accept the terms, answer about offers (three taps);
        switching to a `language` other than the messenger's takes one more."""
        await self.send("/start")
        if language is not None and language != self.language_code:
            await self.press(f"lang:{language}")
        await self.press("terms:accept")
        return await self.press("consent:yes" if marketing else "consent:no")


@asynccontextmanager
async def webhook_client(runtime: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = TestClient(TestServer(runtime.web_app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def webhook_delivery(client: TestClient[Any, Any]) -> Deliver:
    async def deliver(update: dict[str, Any]) -> None:
        response = await client.post(
            "/webhook/telegram",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        )
        assert response.status == 200, await response.text()

    return deliver


def polling_delivery(fake: FakeTelegramAPI) -> Deliver:
    async def deliver(update: dict[str, Any]) -> None:
        fake.push_update(update)

    return deliver
