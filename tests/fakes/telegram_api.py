"""A small fake Telegram Bot API server for end-to-end tests with the real aiogram ``Bot``.

Point aiogram at it with
``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))``.

Request encoding (as done by aiogram 3.31): every method is a POST to ``/bot{token}/{method}``.
Without files the body is ``application/x-www-form-urlencoded``; with files it is
``multipart/form-data``.  ``str`` values are sent verbatim, every other value (ints, bools,
dicts, lists, models) is ``json.dumps``-ed, and ``None``/empty values are omitted.  Files are
sent as multipart fields named by a random key and referenced from the parameter as
``"attach://<key>"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

from tests.fakes.server import LocalServer

JSON = dict[str, Any]

# Free-text parameters that must never be JSON-decoded (a text of "42" stays a string).
_TEXT_PARAMS = frozenset(
    "text caption parse_mode callback_query_id inline_message_id url"  # noqa: SIM905
    " description name title short_description emoji phone_number first_name last_name vcard"
    " address question explanation action business_connection_id message_effect_id"
    " secret_token ip_address".split()
)
# Methods that never count as "delivering something to a chat".
_NON_DELIVERY = frozenset({"sendchataction", "getupdates", "getme", "answercallbackquery"})
_DELIVERY_PREFIXES = ("send", "edit", "copy", "forward")


@dataclass
class RecordedCall:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    token: str
    status: int = 200
    # When the fake answered it (time.monotonic()), for tests of pacing.
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


class FakeTelegramAPI(LocalServer):
    """In-process Bot API stand-in: records calls, serves long polling, injects failures."""

    max_request_bytes = 64 * 1024 * 1024
    max_poll_wait: float = 1.0  # cap for getUpdates long polling, keeps tests snappy

    def __init__(self, *, bot_id: int = 777000, bot_username: str = "loyalty_test_bot") -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.calls: list[RecordedCall] = []
        self._queue: list[JSON] = []
        self._last_update_id = 0
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        # The file_ids this server handed out: a photo sent by another one is refused.
        self.issued_file_ids: set[str] = set()
        self._callback_ids = itertools.count(1)
        self._blocked: set[int] = set()
        # method -> (retry_after, times, calls answered normally first)
        self._rate_limits: dict[str, tuple[int, int, int]] = {}
        self._revoked = False
        # (chat, user_id) -> status for getChatMember; anyone else has "left".
        self.chat_members: dict[tuple[str, int], str] = {}
        self._changed = asyncio.Event()
        self._closing = False
        super().__init__()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._changed = asyncio.Event()  # fresh event, bound to the loop that starts us
        self._closing = False
        await super().start()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file_not_found)

    async def close(self) -> None:
        self._closing = True
        self._notify()  # wake pending long polls so shutdown is quick
        await super().close()

    # ------------------------------------------------------------------ inspection
    def calls_of(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_to(self, chat_id: int) -> list[RecordedCall]:
        return [c for c in self.calls if c.status == 200 and _is_delivery(c, chat_id)]

    async def wait_for_sent(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[RecordedCall]:
        if not await self._wait_until(lambda: len(self.sent_to(chat_id)) >= count, timeout):
            raise AssertionError(
                f"expected >= {count} deliveries to chat {chat_id} within {timeout}s, "
                f"got {len(self.sent_to(chat_id))}:\n{self._describe(self.sent_to(chat_id))}\n"
                f"all calls so far:\n{self._describe(self.calls)}"
            )
        return self.sent_to(chat_id)

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[RecordedCall]:
        if not await self._wait_until(lambda: len(self.calls_of(method)) >= count, timeout):
            raise AssertionError(
                f"expected >= {count} {method} calls within {timeout}s, "
                f"got {len(self.calls_of(method))}; all calls so far:\n"
                f"{self._describe(self.calls)}"
            )
        return self.calls_of(method)

    def clear(self) -> None:
        self.calls.clear()

    # ------------------------------------------------------------------ updates
    def next_update_id(self) -> int:
        self._last_update_id += 1
        return self._last_update_id

    def push_update(self, update: dict[str, Any]) -> int:
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self.next_update_id()
        self._last_update_id = max(self._last_update_id, update["update_id"])
        self._queue.append(update)
        self._notify()
        return int(update["update_id"])

    # ------------------------------------------------------------------ failure injection
    def block_chat(self, chat_id: int) -> None:
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked.discard(chat_id)

    def rate_limit_next(
        self, method: str, retry_after: int = 1, times: int = 1, *, after: int = 0
    ) -> None:
        """The next `times` calls of `method` answer 429 with `retry_after`; with `after`, only
        once that many more calls of it were answered as usual (a 429 mid-broadcast)."""
        self._rate_limits[method.lower()] = (retry_after, times, after)

    def revoke_token(self) -> None:
        """From now on every call is refused as with a revoked token (401 Unauthorized)."""
        self._revoked = True

    # ------------------------------------------------------------------ update builders
    def message_update(
        self,
        *,
        user_id: int,
        text: str | None = None,
        first_name: str = "Ann",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        contact: dict[str, Any] | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        user = _drop_none(
            id=user_id,
            is_bot=False,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        chat = _drop_none(
            id=user_id,
            type="private",
            first_name=first_name,
            last_name=last_name,
            username=username,
        )
        message: JSON = {
            "message_id": next(self._message_ids),
            "date": _now(),
            "chat": chat,
            "from": user,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                length = len(command.encode("utf-16-le")) // 2  # Bot API counts UTF-16 units
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if contact is not None:
            message["contact"] = contact
        return {"update_id": self._update_id(update_id), "message": message}

    def contact_update(
        self,
        *,
        user_id: int,
        phone_number: str,
        contact_user_id: int | None,
        first_name: str = "Ann",
        language_code: str | None = "en",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        contact = _drop_none(
            phone_number=phone_number, first_name=first_name, user_id=contact_user_id
        )
        return self.message_update(
            user_id=user_id,
            first_name=first_name,
            language_code=language_code,
            contact=contact,
            update_id=update_id,
        )

    def callback_update(
        self,
        *,
        user_id: int,
        data: str,
        message_id: int | None = None,
        first_name: str = "Ann",
        language_code: str | None = "en",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        user = _drop_none(
            id=user_id, is_bot=False, first_name=first_name, language_code=language_code
        )
        message = {
            "message_id": message_id if message_id is not None else next(self._message_ids),
            "date": _now(),
            "chat": {"id": user_id, "type": "private", "first_name": first_name},
            "from": self._bot_user(),
            "text": "…",
        }
        query = {
            "id": f"cbq-{next(self._callback_ids)}",
            "from": user,
            "chat_instance": f"ci-{user_id}",
            "data": data,
            "message": message,
        }
        return {"update_id": self._update_id(update_id), "callback_query": query}

    # ------------------------------------------------------------------ internals
    def _update_id(self, update_id: int | None) -> int:
        return self.next_update_id() if update_id is None else update_id

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Re-check ``predicate`` after every recorded call / pushed update, up to ``seconds``."""
        deadline = asyncio.get_running_loop().time() + seconds
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    @staticmethod
    def _describe(calls: list[RecordedCall]) -> str:
        lines = [
            f"  {c.method} [{c.status}] chat={c.chat_id!r} "
            f"text={c.params.get('text', c.params.get('caption'))!r}"
            for c in calls
        ]
        return "\n".join(lines) or "  (nothing)"

    def _bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Loyalty",
            "username": self.bot_username,
        }

    async def _file_not_found(self, request: web.Request) -> web.Response:
        return web.json_response(_error(404, "Not Found"), status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params, files = _decode_form(await request.post())
        status, result = await self._dispatch(method.lower(), params)
        body = result if status != 200 else {"ok": True, "result": result}
        self.calls.append(RecordedCall(method, params, files, token, status))
        self._notify()
        return web.json_response(body, status=status)

    async def _dispatch(self, method: str, params: JSON) -> tuple[int, Any]:
        if self._revoked:
            return 401, _error(401, "Unauthorized")
        if method in self._rate_limits and self._rate_limits[method][2] > 0:
            retry_after, times, after = self._rate_limits[method]
            self._rate_limits[method] = (retry_after, times, after - 1)
        elif method in self._rate_limits:
            retry_after, times, _ = self._rate_limits.pop(method)
            if times > 1:
                self._rate_limits[method] = (retry_after, times - 1, 0)
            return 429, _error(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and chat_id in self._blocked:
            return 403, _error(403, "Forbidden: bot was blocked by the user")
        if method == "getme":
            return 200, {
                **self._bot_user(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        if method == "getupdates":
            return 200, await self._get_updates(params)
        if method == "getchatmember":
            return self._chat_member(params)
        if method.startswith("edit") and "inline_message_id" in params:
            return 200, True
        needs_chat = method.startswith(_DELIVERY_PREFIXES) or method == "deletemessage"
        if needs_chat and not isinstance(chat_id, int):
            return 400, _error(400, "Bad Request: chat not found")
        if method in ("sendchataction", "deletemessage"):
            return 200, True
        photo = params.get("photo")
        if (
            method == "sendphoto"
            and isinstance(photo, str)
            and not photo.startswith("attach://")  # an upload
            and photo not in self.issued_file_ids
        ):
            return 400, _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if method == "sendmediagroup":
            media = params.get("media") or []
            return 200, [self._message(method, cast(int, chat_id), params) for _ in media]
        if method.startswith(("send", "forward", "copy", "editmessage")):
            return 200, self._message(method, cast(int, chat_id), params)
        return 200, True

    def _chat_member(self, params: JSON) -> tuple[int, Any]:
        chat, user_id = str(params.get("chat_id")), params.get("user_id")
        if not isinstance(user_id, int):
            return 400, _error(400, "Bad Request: invalid user_id specified")
        if chat == "@unknown_channel":
            return 400, _error(400, "Bad Request: chat not found")
        status = self.chat_members.get((chat, user_id), "left")
        user = {"id": user_id, "is_bot": False, "first_name": "Member"}
        member: JSON = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        if status == "kicked":
            member["until_date"] = 0
        return 200, member

    def _message(self, method: str, chat_id: int, params: JSON) -> JSON:
        editing = method.startswith("edit")
        message: JSON = {
            "message_id": params.get("message_id", 0) if editing else next(self._message_ids),
            "date": _now(),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": self._bot_user(),
        }
        if editing:
            message["edit_date"] = _now()
        if method in ("sendmessage", "editmessagetext"):
            message["text"] = params.get("text", "")
        if "caption" in params:
            message["caption"] = params["caption"]
        file_id = f"fake-file-{next(self._file_ids)}"
        if method == "sendphoto":
            sizes = (90, 320, 800)
            message["photo"] = [
                {"file_id": f"{file_id}-{w}", "file_unique_id": f"u{w}", "width": w, "height": w}
                for w in sizes
            ]
            self.issued_file_ids.update(f"{file_id}-{w}" for w in sizes)
        elif method == "senddocument":
            message["document"] = {"file_id": file_id, "file_unique_id": f"u{file_id}"}
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    async def _get_updates(self, params: JSON) -> list[JSON]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        allowed = params.get("allowed_updates") or None
        if offset > 0:  # everything below offset is confirmed
            self._queue = [u for u in self._queue if u["update_id"] >= offset]

        def ready() -> list[JSON]:
            return [u for u in self._queue if not allowed or any(k in u for k in allowed)][:limit]

        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)
        await self._wait_until(lambda: bool(ready()) or self._closing, wait)
        return ready()


def _decode_form(form: Any) -> tuple[JSON, dict[str, bytes]]:
    """Split a POST body into decoded params and files, resolving ``attach://`` refs."""
    raw: dict[str, str] = {}
    uploads: dict[str, bytes] = {}
    for key, value in form.items():
        if isinstance(value, web.FileField):
            uploads[key] = value.file.read()
        else:
            raw[key] = str(value)
    params: JSON = {}
    files: dict[str, bytes] = {}
    for key, value in raw.items():
        if value.startswith("attach://") and value[9:] in uploads:
            files[key] = uploads.pop(value[9:])
        params[key] = value if key in _TEXT_PARAMS else _maybe_json(value)
    files.update(uploads)  # direct uploads or refs nested inside JSON (e.g. media groups)
    return params, files


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _is_delivery(call: RecordedCall, chat_id: int) -> bool:
    name = call.method.lower()
    return (
        call.chat_id == chat_id
        and name not in _NON_DELIVERY
        and name.startswith(_DELIVERY_PREFIXES)
    )


def _error(code: int, description: str, **parameters: Any) -> JSON:
    body: JSON = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _drop_none(**fields: Any) -> JSON:
    return {k: v for k, v in fields.items() if v is not None}


def _now() -> int:
    return int(time.time())
