"""The fake Bot API must be good enough for the real aiogram ``Bot`` and ``Dispatcher``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.fakes.telegram_api import FakeTelegramAPI


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegramAPI]:
    api = FakeTelegramAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.close()


@pytest_asyncio.fixture
async def bot(fake: FakeTelegramAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    bot = Bot(token="42:TEST", session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.mark.asyncio
async def test_get_me(fake: FakeTelegramAPI, bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 777000
    assert me.is_bot
    assert me.username == "loyalty_test_bot"
    [call] = fake.calls_of("getme")
    assert call.method == "getMe"
    assert call.token == "42:TEST"


@pytest.mark.asyncio
async def test_send_message_records_decoded_reply_markup(fake: FakeTelegramAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Balance", callback_data="balance")]]
    )

    message = await bot.send_message(chat_id=5, text="123", reply_markup=markup)

    assert message.chat.id == 5
    assert message.text == "123"
    assert isinstance(message.reply_markup, InlineKeyboardMarkup)
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "balance"
    [call] = fake.sent_to(5)
    assert call.method == "sendMessage"
    assert call.params["chat_id"] == 5
    assert call.params["text"] == "123"  # free text is never JSON-decoded
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Balance", "callback_data": "balance"}]]
    }


@pytest.mark.asyncio
async def test_send_photo_records_uploaded_bytes(fake: FakeTelegramAPI, bot: Bot) -> None:
    payload = b"\x89PNG\r\n\x1a\nfake-image-bytes"

    message = await bot.send_photo(
        chat_id=7, photo=BufferedInputFile(payload, filename="qr.png"), caption="Your card"
    )

    assert message.photo
    assert message.caption == "Your card"
    [call] = fake.sent_to(7)
    assert call.method == "sendPhoto"
    assert call.files == {"photo": payload}
    assert call.params["photo"].startswith("attach://")


@pytest.mark.asyncio
async def test_blocked_chat_raises_forbidden(fake: FakeTelegramAPI, bot: Bot) -> None:
    fake.block_chat(9)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(chat_id=9, text="hello?")

    [call] = fake.calls_of("sendMessage")
    assert call.status == 403
    assert fake.sent_to(9) == []


@pytest.mark.asyncio
async def test_rate_limit_next_raises_retry_after(fake: FakeTelegramAPI, bot: Bot) -> None:
    fake.rate_limit_next("sendMessage", retry_after=1)

    with pytest.raises(TelegramRetryAfter) as exc_info:
        await bot.send_message(chat_id=3, text="first")
    assert exc_info.value.retry_after == 1

    await bot.send_message(chat_id=3, text="second")  # only the next call is limited
    assert [c.params["text"] for c in fake.sent_to(3)] == ["second"]


@pytest.mark.asyncio
async def test_a_429_after_n_calls_comes_once_in_the_middle(
    fake: FakeTelegramAPI, bot: Bot
) -> None:
    fake.rate_limit_next("sendMessage", retry_after=2, after=2)

    await bot.send_message(chat_id=3, text="one")
    await bot.send_message(chat_id=3, text="two")
    with pytest.raises(TelegramRetryAfter) as exc_info:
        await bot.send_message(chat_id=3, text="three")
    assert exc_info.value.retry_after == 2
    await bot.send_message(chat_id=3, text="four")

    assert [c.params["text"] for c in fake.sent_to(3)] == ["one", "two", "four"]
    assert [c.status for c in fake.calls_of("sendMessage")] == [200, 200, 429, 200]


@pytest.mark.asyncio
async def test_missing_chat_is_bad_request(fake: FakeTelegramAPI, bot: Bot) -> None:
    from aiogram.exceptions import TelegramBadRequest

    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(chat_id="@nobody", text="hi")


@pytest.mark.asyncio
async def test_long_polling_echo(fake: FakeTelegramAPI, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        fake.push_update(fake.message_update(user_id=5, text="hi"))
        [reply] = await fake.wait_for_sent(5, 1)
        assert reply.method == "sendMessage"
        assert reply.params["text"] == "hi"
        assert fake.calls_of("getUpdates")[0].params["allowed_updates"] == ["message"]
    finally:
        with contextlib.suppress(RuntimeError):  # polling may not have started
            await dp.stop_polling()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_wait_for_sent_times_out_with_helpful_message(fake: FakeTelegramAPI) -> None:
    with pytest.raises(AssertionError, match="expected >= 1 deliveries to chat 1"):
        await fake.wait_for_sent(1, 1, timeout=0.05)


@pytest.mark.asyncio
async def test_update_builders_parse_as_aiogram_updates(fake: FakeTelegramAPI, bot: Bot) -> None:
    from aiogram.types import Update

    command = Update.model_validate(fake.message_update(user_id=5, text="/start ref-1"))
    assert command.message is not None
    assert command.message.entities is not None
    assert command.message.entities[0].length == len("/start")
    contact = Update.model_validate(
        fake.contact_update(user_id=5, phone_number="+100", contact_user_id=5)
    )
    assert contact.message is not None and contact.message.contact is not None
    assert contact.message.contact.user_id == 5
    callback = Update.model_validate(fake.callback_update(user_id=5, data="balance"))
    assert callback.callback_query is not None
    assert callback.callback_query.data == "balance"
    assert command.update_id < contact.update_id < callback.update_id
