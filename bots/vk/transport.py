"""VK's transport: vk-api on a session with timeouts (and another base URL in tests), a token
bucket that keeps a community under VK's request rate, and the thread bridges that keep the
synchronous SDK off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from io import BytesIO
from typing import Any, TypeVar

import requests
import vk_api
from vk_api.upload import VkUpload

# 5.103+ puts the message under `object.message` next to `object.client_info`.
API_VERSION = "5.199"
VK_API_BASE = "https://api.vk.ru"
# Without a timeout, a hung VK request would hold a worker thread forever.
HTTP_TIMEOUT_SECONDS = 30.0

T = TypeVar("T")


class _VkSession(requests.Session):
    """Adds a timeout to every request and, for tests or a proxy, sends the API calls that
    vk-api hard-codes to https://api.vk.ru/method/... to another base URL."""

    def __init__(self, api_url: str = "") -> None:
        super().__init__()
        self._api_url = api_url.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if isinstance(method, bytes):
            method = method.decode("ascii")
        if self._api_url and isinstance(url, str) and url.startswith(VK_API_BASE + "/"):
            url = self._api_url + url[len(VK_API_BASE) :]
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        return super().request(method, url, *args, **kwargs)


def create_api(token: str, *, api_url: str = "") -> vk_api.VkApi:
    api = vk_api.VkApi(token=token, api_version=API_VERSION, session=_VkSession(api_url))
    # vk-api's own pacing (~3 requests/s, made for user tokens) would sleep under a lock;
    # VkChannel paces community calls itself at 20/s without blocking anything.
    api.RPS_DELAY = 0.0
    return api


class TokenBucket:
    """An async rate limiter: `rate` tokens per second, at most `capacity` saved up.

    A caller that finds the bucket empty reserves its tokens anyway (the level goes negative)
    and sleeps until they have accrued, so callers are served in order and no more than
    `capacity + rate * t` acquisitions complete in any interval of t seconds.
    """

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and room for one token")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._updated = clock()

    async def acquire(self, tokens: int = 1) -> None:
        # No await before the reservation: on one event loop this block is atomic.
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= tokens
        if self._tokens < 0:
            await self._sleep(-self._tokens / self.rate)


async def in_daemon_thread(function: Callable[[], T]) -> T:
    """Run a blocking call in a daemon thread: a long poll that is still waiting when we stop
    must not keep the process alive (executor threads are joined at exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the waiter was cancelled (stop) meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = function()
        except BaseException as raised:  # handed to the awaiting coroutine
            error = raised
        # RuntimeError: the loop closed while we were blocked, so nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="vk-long-poll", daemon=True).start()
    return await future


def _uploader(api: vk_api.VkApi) -> VkUpload:
    upload = VkUpload(api)
    # vk-api posts files with a session of its own that has no timeout: use ours.
    upload.http = api.http
    return upload


def _attachment(kind: str, saved: dict[str, Any]) -> str:
    attachment = f"{kind}{saved['owner_id']}_{saved['id']}"
    if saved.get("access_key"):
        attachment += f"_{saved['access_key']}"
    return attachment


def upload_photo(api: vk_api.VkApi, peer_id: int, png: bytes, filename: str) -> str:
    """Blocking: upload a photo for a message to `peer_id`; its attachment string."""
    file = BytesIO(png)
    file.name = filename  # vk-api names the upload after it (else ".jpg")
    saved: list[dict[str, Any]] = _uploader(api).photo_messages(file, peer_id=peer_id)
    return _attachment("photo", saved[0])


def upload_document(api: vk_api.VkApi, peer_id: int, content: bytes, filename: str) -> str:
    """Blocking: upload a document for a message to `peer_id`; its attachment string."""
    file = BytesIO(content)
    file.name = filename  # the extension VK sees comes from it (else ".jpg")
    saved: dict[str, Any] = _uploader(api).document_message(file, title=filename, peer_id=peer_id)
    return _attachment("doc", saved["doc"])
