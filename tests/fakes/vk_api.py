"""A small fake VK API server for end-to-end tests with the real vk-api client.

Point vk-api at it with ``bots.vk.transport.create_api(token, api_url=fake.base_url)``.

Protocol (as the real API and vk-api 11.10 speak it): every method is ``POST`` (or ``GET``)
``/method/<name>`` with form parameters, including ``access_token`` and ``v``; the answer is
``{"response": ...}`` or ``{"error": {"error_code", "error_msg", "request_params"}}`` with
HTTP 200.  Photo uploads go to the ``upload_url`` the API hands out (multipart), Bots Long
Poll to the ``server`` of ``groups.getLongPollServer`` (``?act=a_check&key=&ts=&wait=``).
Documents for messages: ``docs.getMessagesUploadServer`` (``peer_id``, ``type``) hands out an
``upload_url``, the file is posted there as multipart field ``file`` (answer ``{"file": token}``
or ``{"error": ...}``), and ``docs.save`` (``file``, ``title``) turns the token, once, into
``{"type": "doc", "doc": {...}}``, attached to messages as ``doc{owner_id}_{id}_{access_key}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import LocalServer

JSON = dict[str, Any]
API_VERSION = "5.199"
RATE_LIMIT_PER_SECOND = 20
# VK drops a repeated random_id from the same community to the same peer within an hour.
RANDOM_ID_WINDOW_SECONDS = 3600.0
# messages.send takes at most this many peer_ids.
MAX_PEER_IDS = 100
ERROR_MESSAGES = {
    5: "User authorization failed: invalid access_token",
    6: "Too many requests per second",
    8: "Invalid request: v is required",
    10: "Internal server error",
    100: "One of the parameters specified was missing or invalid",
    901: "Can't send messages for users without permission",
    911: "Keyboard format is invalid",
}


@dataclass
class SentMessage:
    peer_id: int
    message: str
    random_id: int
    message_id: int
    keyboard: JSON | None = None
    attachment: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def keyboard_rows(self) -> list[list[JSON]]:
        return list((self.keyboard or {}).get("buttons", []))

    @property
    def labels(self) -> list[str]:
        return [button["action"]["label"] for row in self.keyboard_rows for button in row]

    @property
    def actions(self) -> list[str]:
        return [
            json.loads(button["action"]["payload"])["action"]
            for row in self.keyboard_rows
            for button in row
        ]

    @property
    def inline(self) -> bool:
        return bool((self.keyboard or {}).get("inline"))


@dataclass
class SavedDoc:
    id: int
    owner_id: int
    title: str
    filename: str  # the name of the uploaded multipart file
    content: bytes
    access_key: str
    peer_id: int


@dataclass
class ApiCall:
    method: str
    params: dict[str, str]
    at: float
    error_code: int | None = None


class FakeVkAPI(LocalServer):
    """In-process VK API stand-in: records calls, serves Bots Long Poll, injects failures."""

    max_poll_wait: float = 0.5  # cap for long-poll waits, keeps tests snappy

    def __init__(
        self, *, token: str = "vk-test-token", group_id: int = 227000001, secret: str = "s3cr3t"
    ) -> None:
        self.token = token
        self.group_id = group_id
        self.secret = secret
        # Seconds each API method call takes, to show the event loop does not wait for them.
        self.latency = 0.0
        self.calls: list[ApiCall] = []
        self.deliveries: list[SentMessage] = []
        self.event_answers: list[dict[str, str]] = []
        self.uploads: dict[str, bytes] = {}  # upload token -> the bytes posted
        self.photos: dict[int, bytes] = {}  # saved photo id -> the bytes
        # upload token -> (peer_id, filename, bytes) of a document not yet saved
        self.doc_uploads: dict[str, tuple[int, str, bytes]] = {}
        self.docs: dict[int, SavedDoc] = {}  # saved document id -> the document
        self.names: dict[int, tuple[str, str]] = {}
        self.default_name = ("Ann", "Lee")
        self._blocked: set[int] = set()
        self._failing: dict[str, int] = {}
        self._by_random_id: dict[tuple[int, int], tuple[float, int]] = {}
        self._accepted_at: deque[float] = deque()
        self._message_ids = itertools.count(1)
        self._photo_ids = itertools.count(457239017)
        self._doc_ids = itertools.count(667812345)
        self._event_ids = itertools.count(1)
        self._long_poll: list[JSON] = []
        self._long_poll_key = secrets.token_hex(8)
        self._changed = asyncio.Event()
        super().__init__()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._changed = asyncio.Event()  # bound to the loop that starts us
        await super().start()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/method/{name}", self._method)
        app.router.add_post("/upload", self._upload)
        app.router.add_post("/upload/doc", self._upload_doc)
        app.router.add_get(r"/doc{owner_id:-?\d+}_{id:\d+}", self._download_doc)
        app.router.add_get("/longpoll", self._poll)

    async def close(self) -> None:
        self._notify()
        await super().close()

    # ------------------------------------------------------------------ configuration
    def block_user(self, user_id: int) -> None:
        """The member forbade messages from the community: sends fail with error 901."""
        self._blocked.add(user_id)

    def fail(self, method: str, error_code: int) -> None:
        """Every later call of `method` answers with this error."""
        self._failing[method] = error_code

    def recover(self, method: str) -> None:
        """`method` answers as usual again."""
        self._failing.pop(method, None)

    def set_name(self, user_id: int, first_name: str, last_name: str) -> None:
        self.names[user_id] = (first_name, last_name)

    def queue_long_poll(self, event: JSON) -> None:
        """An event the next long-poll request returns."""
        self._long_poll.append({key: value for key, value in event.items() if key != "secret"})
        self._notify()

    # ------------------------------------------------------------------ inspection
    def calls_of(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    @property
    def rate_limit_errors(self) -> int:
        return sum(1 for call in self.calls if call.error_code == 6)

    def doc_for(self, attachment: str) -> SavedDoc:
        """The saved document an attachment string (`doc{owner}_{id}[_{key}]`) names."""
        owner_id, doc_id, *key = attachment.removeprefix("doc").split("_")
        doc = self.docs[int(doc_id)]
        assert (int(owner_id), key) == (doc.owner_id, [doc.access_key]), attachment
        return doc

    def sent_to(self, peer_id: int) -> list[SentMessage]:
        return [sent for sent in self.deliveries if sent.peer_id == peer_id]

    async def wait_for_sent(
        self,
        peer_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        deadline = time.monotonic() + timeout
        while len(self.sent_to(peer_id)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"expected >= {count} messages to {peer_id} within {timeout}s, got "
                    f"{len(self.sent_to(peer_id))}; calls: {[c.method for c in self.calls]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.sent_to(peer_id)

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[ApiCall]:
        deadline = time.monotonic() + timeout
        while len(self.calls_of(method)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected >= {count} {method} calls within {timeout}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.calls_of(method)

    def max_calls_in_one_second(self) -> int:
        """The most accepted API calls that arrived within any one-second window."""
        times = sorted(call.at for call in self.calls if call.error_code is None)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    # ------------------------------------------------------------------ event builders
    def _event(self, kind: str, body: JSON) -> JSON:
        return {
            "group_id": self.group_id,
            "type": kind,
            "event_id": secrets.token_hex(20),
            "v": API_VERSION,
            "object": body,
            "secret": self.secret,
        }

    def message_new(
        self,
        from_id: int,
        text: str,
        payload: JSON | None = None,
        ref: str | None = None,
        lang_id: int = 0,
        attachments: list[JSON] | None = None,
    ) -> JSON:
        message: JSON = {
            "date": int(time.time()),
            "from_id": from_id,
            "id": next(self._message_ids),
            "out": 0,
            "version": 10_000_000 + next(self._event_ids),
            "attachments": attachments or [],
            "conversation_message_id": next(self._event_ids),
            "fwd_messages": [],
            "important": False,
            "is_hidden": False,
            "peer_id": from_id,
            "random_id": 0,
            "text": text,
        }
        if payload is not None:
            message["payload"] = json.dumps(payload)
        if ref is not None:
            message["ref"] = ref
            message["ref_source"] = "loyalty-test"
        client_info = {
            "button_actions": [
                "text",
                "vkpay",
                "open_app",
                "location",
                "open_link",
                "callback",
                "intent_subscribe",
                "intent_unsubscribe",
            ],
            "keyboard": True,
            "inline_keyboard": True,
            "carousel": True,
            "lang_id": lang_id,
        }
        return self._event("message_new", {"message": message, "client_info": client_info})

    def member_photo(self, owner_id: int, *, original: bool = True) -> JSON:
        """A photo attachment as a member's message carries it (API 5.199): sizes from small
        to large in VK's order (not by area), with `orig_photo` the upload itself."""
        photo_id = next(self._photo_ids)
        base = f"https://sun9-{photo_id % 90}.userapi.com/impg/{photo_id}.jpg?sign={photo_id:x}"
        photo: JSON = {
            "album_id": -3,
            "date": int(time.time()),
            "id": photo_id,
            "owner_id": owner_id,
            "access_key": secrets.token_hex(9),
            "sizes": [
                {"height": 75, "width": 56, "type": "s", "url": f"{base}&size=56x75"},
                {"height": 1280, "width": 960, "type": "w", "url": f"{base}&size=960x1280"},
                {"height": 604, "width": 453, "type": "x", "url": f"{base}&size=453x604"},
                {"height": 130, "width": 97, "type": "m", "url": f"{base}&size=97x130"},
            ],
            "text": "",
            "has_tags": False,
        }
        if original:
            photo["orig_photo"] = {
                "height": 1600,
                "width": 1200,
                "type": "base",
                "url": f"{base}&size=1200x1600",
            }
        return {"type": "photo", "photo": photo}

    def message_event(
        self, user_id: int, payload: JSON, conversation_message_id: int | None = None
    ) -> JSON:
        return self._event(
            "message_event",
            {
                "user_id": user_id,
                "peer_id": user_id,
                "event_id": secrets.token_hex(6),
                "payload": payload,
                "conversation_message_id": conversation_message_id or next(self._event_ids),
            },
        )

    # ------------------------------------------------------------------ HTTP
    def _notify(self) -> None:
        self._changed.set()

    async def _method(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            params.update({key: str(value) for key, value in (await request.post()).items()})
        call = ApiCall(method=name, params=params, at=time.monotonic())
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency)
        if params.get("access_token") != self.token:
            return self._error(call, 5)
        if not params.get("v"):
            return self._error(call, 8)
        if self._too_many(call.at):
            return self._error(call, 6)
        if name in self._failing:
            return self._error(call, self._failing[name])
        handler = getattr(self, "_api_" + name.replace(".", "_"), None)
        if handler is None:
            return self._error(call, 100)
        try:
            result = handler(params)
        except (KeyError, ValueError):
            return self._error(call, 100)
        if isinstance(result, int) and not isinstance(result, bool) and result < 0:
            return self._error(call, -result)
        self._notify()
        return web.json_response({"response": result})

    def _too_many(self, at: float) -> bool:
        while self._accepted_at and at - self._accepted_at[0] >= 1.0:
            self._accepted_at.popleft()
        if len(self._accepted_at) >= RATE_LIMIT_PER_SECOND:
            return True
        self._accepted_at.append(at)
        return False

    def _error(self, call: ApiCall, code: int) -> web.Response:
        call.error_code = code
        self._notify()
        shown = [
            {"key": key, "value": value}
            for key, value in call.params.items()
            if key != "access_token"
        ]
        error = {"error_code": code, "error_msg": ERROR_MESSAGES.get(code, "Unknown error")}
        return web.json_response({"error": {**error, "request_params": shown}})

    # Each _api_* returns the `response`, or a negative number for an error code.
    def _api_messages_send(self, params: dict[str, str]) -> Any:
        """One peer (`peer_id` or `user_id`): the message id, or the error. Many (`peer_ids`,
        comma-separated, at most 100): a list with each peer's answer, an error per peer (901
        for a member who forbade messages) inside a successful response, as VK answers."""
        random_id = int(params["random_id"])
        if params.get("peer_ids"):
            peer_ids = [int(raw) for raw in params["peer_ids"].split(",")]
            if len(peer_ids) > MAX_PEER_IDS or len(set(peer_ids)) != len(peer_ids):
                return -100
            answers: list[JSON] = []
            for peer_id in peer_ids:
                if peer_id in self._blocked:
                    error = {"code": 901, "description": ERROR_MESSAGES[901]}
                    answers.append({"peer_id": peer_id, "error": error})
                    continue
                message_id = self._deliver(peer_id, random_id, params)
                answers.append(
                    {"peer_id": peer_id, "message_id": message_id, "conversation_message_id": 1}
                )
            return answers
        peer_id = int(params.get("peer_id") or params["user_id"])
        if peer_id in self._blocked:
            return -901
        return self._deliver(peer_id, random_id, params)

    def _deliver(self, peer_id: int, random_id: int, params: dict[str, str]) -> int:
        """A message to one peer, unless it has this random_id already: its message id."""
        now = time.monotonic()
        seen = self._by_random_id.get((peer_id, random_id))
        if random_id and seen is not None and now - seen[0] < RANDOM_ID_WINDOW_SECONDS:
            return seen[1]  # VK answers with the first message and delivers nothing new
        message_id = next(self._message_ids)
        self._by_random_id[(peer_id, random_id)] = (now, message_id)
        keyboard = json.loads(params["keyboard"]) if params.get("keyboard") else None
        if keyboard is not None and not _keyboard_fits(keyboard):
            return -911  # "Keyboard format is invalid"
        self.deliveries.append(
            SentMessage(
                peer_id=peer_id,
                message=params.get("message", ""),
                random_id=random_id,
                message_id=message_id,
                keyboard=keyboard,
                attachment=params.get("attachment"),
                params=params,
            )
        )
        return message_id

    @property
    def peer_ids_calls(self) -> list[ApiCall]:
        """The messages.send calls that named many peers (`peer_ids`) and were accepted."""
        return [
            call
            for call in self.calls_of("messages.send")
            if call.params.get("peer_ids") and call.error_code is None
        ]

    def _api_messages_sendMessageEventAnswer(self, params: dict[str, str]) -> Any:
        self.event_answers.append({key: params[key] for key in ("event_id", "user_id", "peer_id")})
        return 1

    def _api_users_get(self, params: dict[str, str]) -> Any:
        users = []
        for raw in params["user_ids"].split(","):
            user_id = int(raw)
            first, last = self.names.get(user_id, self.default_name)
            users.append(
                {
                    "id": user_id,
                    "first_name": first,
                    "last_name": last,
                    "can_access_closed": True,
                    "is_closed": False,
                }
            )
        return users

    def _api_photos_getMessagesUploadServer(self, params: dict[str, str]) -> Any:
        return {
            "album_id": -64,
            "upload_url": f"{self.base_url}/upload?peer={params.get('peer_id', '0')}",
            "user_id": 0,
            "group_id": self.group_id,
        }

    def _api_photos_saveMessagesPhoto(self, params: dict[str, str]) -> Any:
        upload = params["photo"]
        if upload not in self.uploads or params["hash"] != _hash(upload):
            return -100
        photo_id = next(self._photo_ids)
        self.photos[photo_id] = self.uploads[upload]
        return [
            {
                "album_id": -64,
                "date": int(time.time()),
                "id": photo_id,
                "owner_id": -self.group_id,
                "access_key": secrets.token_hex(9),
                "sizes": [],
                "text": "",
                "has_tags": False,
            }
        ]

    def _api_docs_getMessagesUploadServer(self, params: dict[str, str]) -> Any:
        # A community token must name the conversation; `type` defaults to "doc".
        peer_id = int(params["peer_id"])
        kind = params.get("type") or "doc"
        if kind not in ("doc", "audio_message", "graffiti"):
            return -100
        return {"upload_url": f"{self.base_url}/upload/doc?peer={peer_id}&type={kind}"}

    def _api_docs_save(self, params: dict[str, str]) -> Any:
        upload = self.doc_uploads.pop(params["file"], None)  # a token is good for one save
        if upload is None:
            return -100
        peer_id, filename, content = upload
        doc = SavedDoc(
            id=next(self._doc_ids),
            owner_id=-self.group_id,
            title=params.get("title") or filename,
            filename=filename,
            content=content,
            access_key=secrets.token_hex(9),
            peer_id=peer_id,
        )
        self.docs[doc.id] = doc
        ext = filename.rsplit(".", 1)[-1] if "." in filename else ""
        return {
            "type": "doc",
            "doc": {
                "id": doc.id,
                "owner_id": doc.owner_id,
                "title": doc.title,
                "size": len(content),
                "ext": ext,
                "date": int(time.time()),
                "type": 1 if ext in ("txt", "json", "doc", "docx", "pdf") else 8,
                "url": f"{self.base_url}/doc{doc.owner_id}_{doc.id}?hash={doc.access_key}",
                "access_key": doc.access_key,
            },
        }

    def _api_groups_getLongPollServer(self, params: dict[str, str]) -> Any:
        if int(params["group_id"]) != self.group_id:
            return -100
        return {
            "key": self._long_poll_key,
            "server": f"{self.base_url}/longpoll",
            "ts": str(len(self._long_poll)),
        }

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        # VK documents the field as `photo`; vk-api sends `file0`.
        for name in ("photo", "file0"):
            field_value = form.get(name)
            if isinstance(field_value, web.FileField):
                token = json.dumps([{"upload": len(self.uploads) + 1}])
                self.uploads[token] = field_value.file.read()
                return web.json_response({"server": 1, "photo": token, "hash": _hash(token)})
        return web.json_response({"server": 1, "photo": "[]", "hash": ""})

    async def _upload_doc(self, request: web.Request) -> web.Response:
        form = await request.post()
        field_value = form.get("file")
        if not isinstance(field_value, web.FileField):
            return web.json_response({"error": "no_file", "error_descr": "file is missing"})
        token = secrets.token_hex(16)
        peer_id = int(request.query.get("peer", "0"))
        self.doc_uploads[token] = (peer_id, field_value.filename, field_value.file.read())
        return web.json_response({"file": token})

    async def _download_doc(self, request: web.Request) -> web.Response:
        doc = self.docs.get(int(request.match_info["id"]))
        if doc is None or request.query.get("hash") != doc.access_key:
            raise web.HTTPNotFound()
        return web.Response(body=doc.content, content_type="application/octet-stream")

    async def _poll(self, request: web.Request) -> web.Response:
        if request.query.get("act") != "a_check" or request.query.get("key") != self._long_poll_key:
            return web.json_response({"failed": 2})
        try:
            ts = int(request.query["ts"])
            wait = min(float(request.query.get("wait", "25")), self.max_poll_wait)
        except (KeyError, ValueError):
            return web.json_response({"failed": 1, "ts": str(len(self._long_poll))})
        deadline = time.monotonic() + wait
        while len(self._long_poll) <= ts and self._runner is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return web.json_response({"ts": str(len(self._long_poll)), "updates": self._long_poll[ts:]})


def _keyboard_fits(keyboard: JSON) -> bool:
    """VK's limits: at most 5 buttons a row; an inline keyboard 6 rows and 10 buttons, a
    keyboard below the input field 10 rows and 40 buttons."""
    rows = keyboard.get("buttons", [])
    most_rows, most_buttons = (6, 10) if keyboard.get("inline") else (10, 40)
    return (
        len(rows) <= most_rows
        and all(len(row) <= 5 for row in rows)
        and sum(len(row) for row in rows) <= most_buttons
    )


def _hash(upload: str) -> str:
    return f"{abs(hash(upload)):x}"
