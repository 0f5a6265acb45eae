"""VK (vk-api): Callback API and Bots Long Poll events become `Incoming`, replies become
`messages.send` calls.

vk-api is synchronous (it sits on `requests`), so every call runs in a worker thread and the
event loop never waits on VK; an async token bucket keeps the community under VK's limit of
20 requests per second.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import vk_api
from aiohttp import web
from vk_api.bot_longpoll import VkBotLongPoll
from vk_api.exceptions import ApiError, VkApiError

from bots.base import Spawn, who
from bots.keys import KeyedStore
from bots.outbound import BLOCKED, Delivery, Outcome
from bots.updates import once, until_handled
from bots.vk.inbound import as_int, payload_of, photo_of
from bots.vk.peers import CANNOT_MESSAGE_CODES, MAX_PEER_IDS, PeerSender
from bots.vk.render import keyboard_for, random_id
from bots.vk.transport import TokenBucket, in_daemon_thread, upload_document, upload_photo
from bots.webhooks import read_json
from core.db.failures import is_infrastructure_failure
from core.db.state import ConversationStore, UpdateLog
from core.shared.outage import Outage
from handlers.conversation import Conversation
from handlers.messages import Document, Image, Incoming, Reply

CHANNEL = "vk"
# VK's `client_info.lang_id`; languages we have no texts for stay None.
LANGUAGES = {0: "ru", 3: "en"}
NOT_AN_EVENT = "not a VK event"
HANDLED_EVENTS = frozenset({"message_new", "message_event"})
# peer_id from 2e9 up are group chats; the loyalty bot talks to members one to one.
FIRST_CHAT_PEER_ID = 2_000_000_000
# VK counts requests where they arrive, after network jitter: aim a little under its limit.
RATE_HEADROOM = 0.9
LONG_POLL_WAIT_SECONDS = 25
LONG_POLL_RETRY = 3.0  # seconds
WORKER_THREADS = 4
# An upload that fails this way is logged and the message goes out without the attachment;
# TypeError/KeyError: an answer not shaped as documented.
UPLOAD_ERRORS = (VkApiError, requests.RequestException, KeyError, TypeError, ValueError)
# The member's VK name and language, asked once (users.get) and kept in the shared store.
PROFILE = "profile"

log = logging.getLogger("bots.vk")
T = TypeVar("T")


@dataclass(frozen=True)
class _Profile:
    name: str | None
    language: str | None


class VkChannel:
    def __init__(
        self,
        api: vk_api.VkApi,
        conversation: Conversation,
        updates: UpdateLog,
        store: ConversationStore,
        *,
        group_id: int,
        confirmation_code: str,
        secret: str,
        requests_per_second: float = 20.0,
        long_poll_wait: int = LONG_POLL_WAIT_SECONDS,
        long_poll: bool = False,
    ) -> None:
        self.api = api
        self._conversation = conversation
        self._updates = updates
        self._store = KeyedStore(store, CHANNEL)
        self._group_id = group_id
        self._confirmation_code = confirmation_code
        self._secret = secret
        self._long_poll_wait = long_poll_wait
        self.limiter = TokenBucket(requests_per_second * RATE_HEADROOM)
        self._executor = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="vk-api")
        self._stopping = asyncio.Event()
        self._outage = Outage("vk long poll: handling events", log)  # said once per outage
        self._closed = False
        self._long_poll = long_poll
        self._peers = PeerSender(group_id, self._params, self.call)

    # ------------------------------------------------------------------ the Channel protocol
    name = CHANNEL

    def register_routes(self, app: web.Application) -> None:
        self.register_webhook(app)

    async def start(self, spawn: Spawn) -> None:
        if self._long_poll:
            spawn("vk long poll", self.run_long_poll())
            log.info("vk: Bots Long Poll")
        else:
            log.info("vk: Callback API at /webhook/vk")

    # ------------------------------------------------------------------ Callback API
    def register_webhook(self, app: web.Application, path: str = "/webhook/vk") -> None:
        app.router.add_post(path, self.handle_webhook)

    async def handle_webhook(self, request: web.Request) -> web.Response:
        # VK puts its secret inside the event: the body is read bounded and parsed defensively
        # (bots.webhooks) before anything can be checked.
        event = await read_json(request, NOT_AN_EVENT)
        if not isinstance(event, dict):
            return web.Response(status=400, text=NOT_AN_EVENT)
        if as_int(event.get("group_id")) != self._group_id:
            return web.Response(status=403, text="forbidden")
        if event.get("type") == "confirmation":
            return web.Response(text=self._confirmation_code)
        if not self._secret_matches(event.get("secret")):
            return web.Response(status=403, text="forbidden")
        await self.process(event)
        # Anything but a fast plain "ok" makes VK deliver the event again.
        return web.Response(text="ok")

    def _secret_matches(self, given: Any) -> bool:
        # An unset secret would let anyone post events: refuse them all instead.
        if not self._secret or not isinstance(given, str):
            return False
        return secrets.compare_digest(given.encode(), self._secret.encode())

    async def process(self, event: dict[str, Any]) -> None:
        """Handle one event (webhook or long poll) at most once to the end: a bug is logged; an
        infrastructure failure, or an event still being handled, raises (the webhook answers
        503 and VK delivers the event again; the long poll tries it again)."""
        kind = event.get("type")
        if kind not in HANDLED_EVENTS:
            return
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            log.warning("vk: a %s event without event_id was ignored", kind)
            return
        key = f"{CHANNEL}:{self._group_id}:{event_id}"
        async with once(self._updates, key, f"vk event {event_id}") as new:
            body = event.get("object")
            if not new or not isinstance(body, dict):
                return
            try:
                if kind == "message_new":
                    await self._on_message(body, event_id)
                else:
                    await self._on_button(body, event_id)
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                log.exception("vk: failed to process event %s", event_id)

    async def _on_message(self, body: dict[str, Any], event_id: str) -> None:
        # API < 5.103 sent the message itself as the object.
        nested = body.get("message")
        message: dict[str, Any] = nested if isinstance(nested, dict) else body
        sender = as_int(message.get("from_id"))
        peer_id = as_int(message.get("peer_id")) or sender
        if sender is None or sender <= 0 or peer_id != sender:
            return  # another community, or a group chat
        client_info = body.get("client_info")
        lang_id = client_info.get("lang_id") if isinstance(client_info, dict) else None
        language = LANGUAGES.get(lang_id) if isinstance(lang_id, int) else None
        text = str(message.get("text") or "")
        action = None
        payload = payload_of(message.get("payload"))
        if message.get("ref"):
            # The first message from a vk.me/club<ID>?ref=CODE link: a start with a referral.
            text = f"/start {message['ref']}"
        elif payload.get("command") == "start":
            text = "/start"  # VK's own "Start" button
        elif isinstance(payload.get("action"), str):
            action = payload["action"]
        profile = await self._profile(sender, language)
        incoming = Incoming(
            channel=CHANNEL,
            user_id=str(sender),
            text=text,
            action=action,
            display_name=profile.name,
            language_code=language or profile.language,
            photo=photo_of(message),
        )
        await self.deliver(peer_id, await self._conversation.handle(incoming), event_id=event_id)

    async def _on_button(self, body: dict[str, Any], event_id: str) -> None:
        user_id = as_int(body.get("user_id"))
        peer_id = as_int(body.get("peer_id")) or user_id
        if user_id is None or peer_id is None:
            return
        # Answer first: until then the member's button shows a spinner.
        await self._attempt(
            "messages.sendMessageEventAnswer",
            event_id=body.get("event_id"),
            user_id=user_id,
            peer_id=peer_id,
        )
        action = payload_of(body.get("payload")).get("action")
        if peer_id != user_id or not isinstance(action, str):
            return
        profile = await self._profile(user_id, None)
        incoming = Incoming(
            channel=CHANNEL,
            user_id=str(user_id),
            action=action,
            display_name=profile.name,
            language_code=profile.language,
        )
        await self.deliver(peer_id, await self._conversation.handle(incoming), event_id=event_id)

    async def _profile(self, user_id: int, language: str | None) -> _Profile:
        """The member's VK name: one users.get per member, then from the store."""
        key = self._store.key(PROFILE, user_id)
        cached = await self._store.get(key)
        if cached is not None:
            return _Profile(name=cached.get("name"), language=cached.get("language"))
        try:
            users = await self.call("users.get", user_ids=user_id)
        except (VkApiError, requests.RequestException) as error:
            log.warning("vk: users.get failed for %s: %s", who(CHANNEL, user_id), error)
            return _Profile(name=None, language=language)  # not cached: try again next time
        user = users[0] if isinstance(users, list) and users else {}
        parts = (user.get("first_name"), user.get("last_name"))
        name = " ".join(part for part in parts if part) or None
        await self._store.set(key, {"name": name, "language": language})
        return _Profile(name=name, language=language)

    # ------------------------------------------------------------------ sending
    async def deliver(self, peer_id: int, replies: list[Reply], *, event_id: str) -> None:
        """Send replies in order; the random_id of each comes from (event, position), so
        sending the same replies for the same event again delivers nothing twice."""
        await self._send_replies(peer_id, replies, origin=event_id)

    async def send_outbound(
        self, external_id: str, replies: list[Reply], *, key: str, wait_rate_limit: bool = True
    ) -> Delivery:
        """Send outside a conversation turn (a notice). Each random_id comes from (key,
        position): a notice retried after a crash or a timeout is not delivered twice (VK
        keeps random_ids for about an hour)."""
        peer_id = as_int(external_id)
        if peer_id is None or peer_id <= 0:
            return Delivery.unreachable(f"not a VK user id: {external_id}")
        return await self._send_replies(peer_id, replies, origin=f"outbound:{key}")

    max_recipients = MAX_PEER_IDS

    async def send_outbound_many(
        self, external_ids: list[str], replies: list[Reply], *, key: str
    ) -> dict[str, Delivery]:
        """`send_outbound` to many members at once (bots.vk.peers)."""
        return await self._peers.send(external_ids, replies, origin=f"outbound:{key}")

    async def _params(self, peer_id: int, reply: Reply, random_id: int) -> dict[str, Any]:
        """messages.send's parameters for a reply (its attachments uploaded for `peer_id`)."""
        params: dict[str, Any] = {"message": reply.text, "random_id": random_id}
        keyboard = keyboard_for(reply)
        if keyboard is not None:
            params["keyboard"] = keyboard
        attachments: list[str] = []
        if reply.image is not None:
            try:
                attachments.append(await self._upload_photo(peer_id, reply.image))
            except UPLOAD_ERRORS as error:
                # The caption (the card code) still reaches the member.
                log.warning("vk: photo upload for %s failed: %s", who(CHANNEL, peer_id), error)
        if reply.document is not None:
            try:
                attachments.append(await self._upload_document(peer_id, reply.document))
            except UPLOAD_ERRORS as error:
                # The text still reaches the member; they can ask for the file again.
                log.warning("vk: document upload for %s failed: %s", who("vk", peer_id), error)
        if attachments:
            params["attachment"] = ",".join(attachments)
        return params

    async def _send_replies(self, peer_id: int, replies: list[Reply], *, origin: str) -> Delivery:
        """`origin` names what the replies answer (an event, a notice) for their random_ids;
        the first reply that does not go through ends the batch."""
        for index, reply in enumerate(replies):
            params = await self._params(peer_id, reply, random_id(self._group_id, origin, index))
            params["peer_id"] = peer_id
            # `replaces_origin` (pagination): VK can edit, but a new message is just as clear.
            delivery = await self._send_message(params)
            if delivery.outcome is not Outcome.SENT:
                return delivery
        return Delivery.sent()

    async def _send_message(self, params: dict[str, Any]) -> Delivery:
        try:
            await self.call("messages.send", **params)
            return Delivery.sent()
        except ApiError as error:
            if error.code in CANNOT_MESSAGE_CODES:
                log.info("vk: %s cannot be messaged (%s)", who("vk", params.get("peer_id")), error)
                return Delivery.unreachable(BLOCKED)
            log.warning("vk: messages.send failed: %s", error)
            return Delivery.failed(f"VK error {error.code}: {error.error.get('error_msg', '')}")
        except (VkApiError, requests.RequestException) as error:
            log.warning("vk: messages.send failed: %s", error)
            return Delivery.failed(str(error) or type(error).__name__)

    async def _upload_photo(self, peer_id: int, image: Image) -> str:
        # The photo is the community's: uploaded for one peer, it goes to any (a group's).
        # photo_messages makes two API calls (getMessagesUploadServer, saveMessagesPhoto).
        await self.limiter.acquire(2)
        return await self._in_thread(upload_photo, self.api, peer_id, image.png, image.filename)

    async def _upload_document(self, peer_id: int, document: Document) -> str:
        # document_message makes two API calls (docs.getMessagesUploadServer, docs.save).
        await self.limiter.acquire(2)
        return await self._in_thread(
            upload_document, self.api, peer_id, document.content, document.filename
        )

    async def _attempt(self, method: str, **params: Any) -> bool:
        """One API call whose failure must not stop the show; False if it failed."""
        try:
            await self.call(method, **params)
            return True
        except ApiError as error:
            if error.code in CANNOT_MESSAGE_CODES:
                log.info("vk: %s cannot be messaged (%s)", who("vk", params.get("peer_id")), error)
            else:
                log.warning("vk: %s failed: %s", method, error)
        except (VkApiError, requests.RequestException) as error:
            log.warning("vk: %s failed: %s", method, error)
        return False

    async def call(self, method: str, **params: Any) -> Any:
        """One VK API method, paced by the limiter, in a worker thread."""
        await self.limiter.acquire()
        return await self._in_thread(self.api.method, method, params)

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    # ------------------------------------------------------------------ Bots Long Poll
    async def run_long_poll(self) -> None:
        """Receive events by Bots Long Poll (no public URL needed) until `stop()`.

        `stop()` is final: a stop that comes before this task first runs still counts."""
        longpoll: VkBotLongPoll | None = None
        while not self._stopping.is_set():
            try:
                if longpoll is None:
                    await self.limiter.acquire()  # the constructor calls groups.getLongPollServer
                    longpoll = await self._until_stopped(
                        self._in_thread(
                            VkBotLongPoll, self.api, self._group_id, self._long_poll_wait
                        )
                    )
                    continue
                events = await self._until_stopped(in_daemon_thread(longpoll.check))
            except Exception as error:
                log.warning("vk long poll failed, retrying: %s", error)
                await self._until_stopped(asyncio.sleep(LONG_POLL_RETRY))
                continue
            for event in events or []:
                await until_handled(self.process, event.raw, self._stopping, self._outage)

    async def _until_stopped(self, awaitable: Awaitable[T]) -> T | None:
        """The awaitable's result, or None as soon as `stop()` is called."""
        work = asyncio.ensure_future(awaitable)
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not work.done():
                work.cancel()
        return work.result() if work.done() and not work.cancelled() else None

    async def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stop()
        # Calls still running finish in their threads; nothing new starts.
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.api.http.close()
