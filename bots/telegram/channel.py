"""Telegram (aiogram 3): updates become `Incoming`, replies become Bot API calls."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
    Update,
    User,
)
from aiohttp import web

from bots.base import Spawn
from bots.outbound import Delivery, Outcome
from bots.telegram import render, transport
from bots.updates import once, until_handled
from bots.webhooks import read_json
from core.db.state import UpdateLog
from core.shared.outage import Outage
from handlers.conversation import Conversation
from handlers.messages import Contact, Incoming, Layout, Reply
from handlers.render.i18n import Translator

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NOT_AN_UPDATE = "not a Telegram update"
COMMAND_MENU = ("start", "balance", "card", "history", "profile", "language", "help")

log = logging.getLogger("bots.telegram")


class TelegramChannel:
    def __init__(
        self,
        bot: Bot,
        conversation: Conversation,
        updates: UpdateLog,
        *,
        webhook_secret: str,
        webhook_url: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        paid_broadcasts: bool = False,
    ) -> None:
        self.bot = bot
        self._texts = transport.TextSender(bot, paid=paid_broadcasts)
        self._paid_broadcasts = paid_broadcasts
        # A stored image's Telegram file_id after its first upload, by its digest: the next
        # recipients get the photo by id, not another upload of the same bytes.
        self._photo_ids: dict[str, str] = {}
        self._photo_uploads: dict[str, asyncio.Lock] = {}
        self._webhook_url = webhook_url
        self._conversation = conversation
        self._updates = updates
        self._webhook_secret = webhook_secret
        self._sleep = sleep
        # Long polling: an update waits out an outage of the database or Redis (said once) and
        # holds the ones after it, which Telegram keeps until they are asked for.
        self._polling = False
        self._stopping = asyncio.Event()
        self._outage = Outage("telegram long polling: handling updates", log)
        self.dispatcher = Dispatcher(name="loyalty")
        self.dispatcher.update.outer_middleware(self._once_per_update)
        self.dispatcher.include_router(self._router())

    # ------------------------------------------------------------------ the Channel protocol
    name = CHANNEL

    def register_routes(self, app: web.Application) -> None:
        self.register_webhook(app)

    async def start(self, spawn: Spawn) -> None:
        """The command menu, the invite links' username, then the webhook or long polling."""
        await self.publish_commands(self._conversation.texts)
        invites = self._conversation.invites
        if "telegram" not in invites.templates:
            username = await self.username()
            if username:
                invites.add_telegram(username)
        if self._webhook_url:
            await self.set_webhook(self._webhook_url)
            log.info("telegram: webhook at %s", self._webhook_url)
        else:
            spawn("telegram polling", self.run_polling())
            log.info("telegram: long polling")

    async def stop(self) -> None:
        await self.stop_polling()

    def _router(self) -> Router:
        router = Router(name=__name__)
        router.message.register(self._on_message, F.chat.type == "private")
        router.callback_query.register(self._on_callback)
        return router

    async def _once_per_update(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        update: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(update, Update):
            return await handler(update, data)
        key = f"{CHANNEL}:{self.bot.id}:{update.update_id}"

        async def handle_once(update: Update) -> Any:
            async with once(self._updates, key, f"telegram update {update.update_id}") as new:
                return await handler(update, data) if new else None

        if self._polling:
            # Nobody delivers a long-polled update again: it is tried until it is handled.
            return await until_handled(handle_once, update, self._stopping, self._outage)
        # A webhook's: an outage raises, answered 503, and Telegram delivers it again.
        return await handle_once(update)

    async def _on_message(self, message: Message) -> None:
        sender = message.from_user
        if sender is None:
            return
        contact = None
        if message.contact is not None:
            contact = Contact(
                phone=message.contact.phone_number,
                is_own=message.contact.user_id == sender.id,
            )
        # The largest size of a photo: what staff would look at (a quest's proof).
        photo = f"telegram:{message.photo[-1].file_id}" if message.photo else None
        incoming = self._incoming(
            sender, text=message.text or message.caption or "", contact=contact, photo=photo
        )
        replies = await self._conversation.handle(incoming)
        await self.deliver(message.chat.id, replies)

    async def _on_callback(self, callback: CallbackQuery) -> None:
        await self._call(callback.answer())
        origin = callback.message if isinstance(callback.message, Message) else None
        chat_id = origin.chat.id if origin else callback.from_user.id
        incoming = self._incoming(callback.from_user, action=callback.data or "")
        replies = await self._conversation.handle(incoming)
        await self.deliver(chat_id, replies, origin=origin)

    @staticmethod
    def _incoming(sender: User, **fields: Any) -> Incoming:
        return Incoming(
            channel=CHANNEL,
            user_id=str(sender.id),
            display_name=sender.full_name,
            language_code=sender.language_code,
            is_bot=bool(sender.is_bot),
            **fields,
        )

    async def deliver(
        self, chat_id: int, replies: list[Reply], *, origin: Message | None = None
    ) -> None:
        await self._send_replies(chat_id, replies, origin=origin)

    async def send_outbound(
        self, external_id: str, replies: list[Reply], *, key: str, wait_rate_limit: bool = True
    ) -> Delivery:
        """Send outside a conversation turn (a notice): the same messages a turn would send.

        `key` is unused: `sendMessage` has no idempotency key, so a retried notice may arrive
        twice if the first attempt was sent but not recorded."""
        try:
            chat_id = int(external_id)  # a private chat's id is the member's user id
        except ValueError:
            return Delivery.unreachable(f"not a Telegram user id: {external_id}")
        if not wait_rate_limit and all(_plain_text(reply) for reply in replies):
            # A broadcast's text: the lean path (transport.TextSender), one request each.
            for reply in replies:
                rows = tuple(
                    tuple((button.label, button.action) for button in row) for row in reply.buttons
                )
                delivery = await self._texts.send(chat_id, reply.text, rows)
                if delivery.outcome is not Outcome.SENT:
                    return delivery
            return Delivery.sent()
        return await self._send_replies(
            chat_id, replies, wait_rate_limit=wait_rate_limit, broadcast=not wait_rate_limit
        )

    async def _send_replies(
        self,
        chat_id: int,
        replies: list[Reply],
        *,
        origin: Message | None = None,
        wait_rate_limit: bool = True,
        broadcast: bool = False,
    ) -> Delivery:
        """Send replies in order; the first one that does not go through ends the batch (the
        rest would fail alike, or arrive out of context). `broadcast`: a broadcast's message
        (a paid broadcast's photos are paid too, as its texts are)."""
        for reply in replies:
            if reply.image is not None and reply.document is None:
                delivery = await self._send_photo(
                    chat_id, reply, wait_rate_limit=wait_rate_limit, broadcast=broadcast
                )
                if delivery.outcome is not Outcome.SENT:
                    return delivery
                continue
            markup = render.markup(reply)
            sent: Awaitable[Any]
            if reply.document is not None:
                document = BufferedInputFile(
                    reply.document.content, filename=reply.document.filename
                )
                sent = self.bot.send_document(
                    chat_id, document, caption=reply.text, reply_markup=markup
                )
            elif (
                reply.replaces_origin
                and origin is not None
                and origin.text is not None
                and (markup is None or isinstance(markup, InlineKeyboardMarkup))
            ):
                sent = self.bot.edit_message_text(
                    text=reply.text,
                    chat_id=chat_id,
                    message_id=origin.message_id,
                    reply_markup=markup,
                )
            else:
                sent = self.bot.send_message(chat_id, reply.text, reply_markup=markup)
            delivery = await self._request(sent, wait_rate_limit=wait_rate_limit)
            if delivery.outcome is not Outcome.SENT:
                return delivery
        return Delivery.sent()

    async def _send_photo(
        self, chat_id: int, reply: Reply, *, wait_rate_limit: bool, broadcast: bool
    ) -> Delivery:
        """A photo with its caption: a stored image (a broadcast's) is uploaded once, by the
        first recipient's send, then sent by its file_id (the others wait for that first
        upload rather than upload the same bytes alongside it)."""
        image = reply.image
        assert image is not None
        paid = True if broadcast and self._paid_broadcasts else None
        markup = render.markup(reply)

        def send(photo: str | BufferedInputFile) -> Awaitable[Any]:
            return self.bot.send_photo(
                chat_id,
                photo,
                caption=reply.text,
                reply_markup=markup,
                allow_paid_broadcast=paid,
            )

        def upload() -> Awaitable[Any]:
            return send(BufferedInputFile(image.png, filename=image.filename))

        if image.stored is None:
            return await self._request(upload(), wait_rate_limit=wait_rate_limit)
        digest = image.stored.digest
        known = self._photo_ids.get(digest)
        if known is None:
            async with self._photo_uploads.setdefault(digest, asyncio.Lock()):
                known = self._photo_ids.get(digest)
                if known is None:
                    answers: list[Any] = []
                    delivery = await self._request(
                        upload(), wait_rate_limit=wait_rate_limit, answered=answers.append
                    )
                    sent = answers[0] if answers else None
                    if isinstance(sent, Message) and sent.photo:
                        # Any size's file_id sends the photo; the largest is the upload.
                        self._photo_ids[digest] = sent.photo[-1].file_id
                    return delivery
        delivery = await self._request(send(known), wait_rate_limit=wait_rate_limit)
        if delivery.outcome is Outcome.FAILED and delivery.retry_after is None:
            # Perhaps a file_id Telegram no longer takes: the next send uploads the bytes again.
            self._photo_ids.pop(digest, None)
        return delivery

    async def _call(self, request: Awaitable[Any]) -> bool:
        """Send one Bot API request; False when it did not go through."""
        return (await self._request(request)).outcome is Outcome.SENT

    async def _request(
        self,
        call: Awaitable[Any],
        *,
        wait_rate_limit: bool = True,
        answered: Callable[[Any], None] | None = None,
    ) -> Delivery:
        attempts = transport.MAX_SEND_ATTEMPTS if wait_rate_limit else 1
        return await transport.request(
            self.bot, call, sleep=self._sleep, attempts=attempts, answered=answered
        )

    async def username(self) -> str | None:
        """The bot's @username, for members' invite links; None if Telegram cannot say."""
        try:
            return (await self.bot.me()).username
        except TelegramAPIError as error:
            log.warning("telegram getMe failed: %s", error)
            return None

    async def publish_commands(self, texts: Translator) -> None:
        """The command menu Telegram shows next to the input field, in every language."""
        for language in (None, *texts.languages):
            described = language or texts.default
            commands = [
                BotCommand(command=name, description=texts.text(described, f"command-{name}"))
                for name in COMMAND_MENU
            ]
            await self._call(self.bot.set_my_commands(commands, language_code=language))

    # Long polling, for local use and for shops without a public URL.
    async def run_polling(self) -> None:
        """Updates one after the other: getUpdates confirms the ones before it only when it
        asks for more, so an update waiting for the service holds its successors, and a
        process that dies meanwhile gets them all again after its restart."""
        self._polling = True
        await self._call(self.bot.delete_webhook(drop_pending_updates=False))
        await self.dispatcher.start_polling(
            self.bot,
            handle_signals=False,
            close_bot_session=False,
            handle_as_tasks=False,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )

    async def stop_polling(self) -> None:
        self._stopping.set()
        if self.dispatcher._running_lock.locked():
            await self.dispatcher.stop_polling()

    # Webhook: Telegram posts each update to PUBLIC_URL/webhook/telegram.
    async def set_webhook(self, url: str) -> None:
        await self.bot.set_webhook(
            url,
            secret_token=self._webhook_secret,
            allowed_updates=self.dispatcher.resolve_used_update_types(),
        )

    def register_webhook(self, app: web.Application, path: str = "/webhook/telegram") -> None:
        app.router.add_post(path, self.handle_webhook)

    async def handle_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secrets.compare_digest(given.encode(), self._webhook_secret.encode()):
            return web.Response(status=403, text="forbidden")
        # Authenticated first: nothing of the body is read for a request without the secret.
        data = await read_json(request, NOT_AN_UPDATE)
        try:
            update = Update.model_validate(data, context={"bot": self.bot})
        except ValueError:  # pydantic's ValidationError
            return web.Response(status=400, text=NOT_AN_UPDATE)
        await self.dispatcher.feed_update(self.bot, update)
        return web.Response(text="ok")

    async def close(self) -> None:
        await self.stop_polling()
        await self.bot.session.close()


def _plain_text(reply: Reply) -> bool:
    """Text with inline buttons at most: what transport.TextSender sends."""
    return (
        reply.image is None
        and reply.document is None
        and not reply.remove_menu
        and (not reply.buttons or reply.layout is Layout.INLINE)
    )
