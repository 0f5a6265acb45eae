"""What every fake platform server shares: an aiohttp app on 127.0.0.1, a free port, and
a clean start and stop (also as an async context manager)."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LocalServer:
    """Subclasses add their routes in `routes(app)`."""

    max_request_bytes = 16 * 1024 * 1024

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_request_bytes)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url
