"""The one aiohttp application: health probes, every channel's webhook and media, and errors
answered as `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Protocol

from aiohttp import web

from core.shared.errors import LoyaltyError

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBLEM_TYPE = "application/problem+json"
# A problem's `type`: one URI per stable code, so a client can branch on it.
PROBLEM_URI = "urn:loyalty:problem:{code}"
# The body limit: webhooks and API requests are small; Twilio's forms are the largest.
MAX_BODY_BYTES = 1024**2


class Routed(Protocol):
    """What the web app needs of a channel (bots.base.Channel has it)."""

    def register_routes(self, app: web.Application) -> None: ...


def problem(status: int, *, code: str, detail: str = "", title: str = "") -> web.Response:
    body = {
        "type": PROBLEM_URI.format(code=code),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    return web.json_response(body, status=status, content_type=PROBLEM_TYPE)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A refusal of the core becomes its status and code; anything unexpected a 500 whose body
    says nothing of the code (the traceback goes to the log)."""
    try:
        return await handler(request)
    except LoyaltyError as error:
        return problem(error.http_status, code=error.code, detail=str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = problem(error.status, code=HTTPStatus(error.status).name.lower())
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return problem(500, code="internal_error")


def build_web_app(probes: dict[str, Probe], channels: Iterable[Routed] = ()) -> web.Application:
    """`/healthz`: the process answers. `/readyz`: every dependency (database, Redis) answers.
    Each channel mounts its own routes."""

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

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[problems])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for channel in channels:
        channel.register_routes(app)
    return app
