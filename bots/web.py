"""The HTTP side: health probes and the webhooks of every channel on one aiohttp app."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[None]]


def build_web_app(probes: dict[str, Probe]) -> web.Application:
    """`/healthz`: the process answers. `/readyz`: every dependency (database, Redis) answers."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        report: dict[str, str] = {}
        ready = True
        for name, probe in probes.items():
            try:
                await probe()
                report[name] = "ok"
            except Exception as error:
                log.warning("readiness probe %s failed: %s", name, error)
                report[name] = "unavailable"
                ready = False
        return web.json_response(
            {"status": "ok" if ready else "unavailable", **report}, status=200 if ready else 503
        )

    app = web.Application(client_max_size=1024**2)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
