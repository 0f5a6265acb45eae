"""The one aiohttp application: health probes, every channel's webhook and media, and errors
answered as `application/problem+json` (RFC 9457)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from aiohttp.web_protocol import RequestPayloadError

from core.db.failures import RetryLater, is_infrastructure_failure
from core.shared.errors import LoyaltyError

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBLEM_TYPE = "application/problem+json"
# A problem's `type`: one URI per stable code, so a client can branch on it.
PROBLEM_URI = "urn:loyalty:problem:{code}"
# How long /readyz waits for one dependency: one that hangs (a Redis behind a dead link) is
# not ready, answered as such rather than left to the caller's own timeout.
PROBE_TIMEOUT_SECONDS = 2.0
# The body limit: webhooks and API requests are small; Twilio's forms are the largest.
MAX_BODY_BYTES = 1024**2
# When a platform may try again after an outage answered 503 (a hint: each platform keeps its
# own schedule).
RETRY_AFTER_SECONDS = 10


class Routed(Protocol):
    """What the web app needs of a channel (bots.base.Channel has it)."""

    def register_routes(self, app: web.Application) -> None: ...


# What a problem answer sets itself; every other header of the error it replaces is kept
# (Allow on a 405, Retry-After, WWW-Authenticate).
BODY_HEADERS = frozenset(
    {"content-type", "content-length", "content-encoding", "transfer-encoding"}
)
# Set on an error response whose own body is what its clients read (see keep_body).
KEEPS_BODY = web.ResponseKey("keeps_body", bool)


# What aiohttp's server raises on a request it cannot parse (a broken request line, header or
# chunked body): the client's doing, answered 400 by the server itself.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (HttpProcessingError, RequestPayloadError)


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server log, where a request it cannot parse is noted at INFO, without a
    traceback, instead of an ERROR: anyone can send one, and it is no fault of ours. Every
    other failure is logged as aiohttp logs it."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, CLIENT_ERRORS) or isinstance(
            getattr(error, "__cause__", None), CLIENT_ERRORS
        ):
            kwargs.pop("exc_info")
            self.info(f"{msg} (malformed request: %s)", *args, type(error).__name__, **kwargs)
            return
        super().exception(msg, *args, **kwargs)


def problem(status: int, *, code: str, detail: str = "", title: str = "") -> web.Response:
    body = {
        "type": PROBLEM_URI.format(code=code),
        "title": title or _phrase(status),
        "status": status,
        "code": code,
        "detail": detail,
    }
    return web.json_response(body, status=status, content_type=PROBLEM_TYPE)


def unavailable(retry_after: int) -> web.Response:
    answer = problem(503, code="service_unavailable", detail="try again later")
    answer.headers["Retry-After"] = str(retry_after)
    return answer


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status HTTP does not name (599 from a proxy, say)
        return "Error"


def _status_code(status: int) -> str:
    try:
        return HTTPStatus(status).name.lower()
    except ValueError:
        return f"http_{status}"


def keep_body(response: web.Response) -> web.Response:
    """Mark an error response whose own body is what its clients read (the readiness report
    a probe logs), so the middleware leaves it as it is."""
    response[KEEPS_BODY] = True
    return response


def _as_problem(response: web.Response) -> web.Response:
    """An error answered in another form (a channel's plain-text refusal, aiohttp's own 404 or
    405) as the same status in problem+json; a plain-text body becomes the detail."""
    detail = ""
    if response.content_type == "text/plain" and response.text is not None:
        detail = response.text
        if detail == f"{response.status}: {response.reason}":
            detail = ""  # aiohttp's default body repeats the title
    answer = problem(response.status, code=_status_code(response.status), detail=detail)
    for name, value in response.headers.items():
        if name.lower() not in BODY_HEADERS:
            answer.headers.add(name, value)
    return answer


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error the app answers is a problem: a refusal of the core becomes its status and
    code; an HTTP error raised or returned in any other form (a channel's plain-text refusal,
    a forged media link, aiohttp's 404 and 405) the same status with its standard code;
    anything unexpected a 500 whose body says nothing of the code (the traceback goes to the
    log). Successes keep their bodies: VK wants a plain "ok", Twilio TwiML."""
    try:
        response = await handler(request)
    except LoyaltyError as error:
        return problem(error.http_status, code=error.code, detail=str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _as_problem(error)
    except RetryLater as error:
        # An update still being handled: the platform delivers it again later.
        log.info("%s %s: %s, answered 503", request.method, _route_of(request), error)
        return unavailable(error.retry_after)
    except Exception as error:
        if is_infrastructure_failure(error):
            # The database or Redis out of reach: not handled, so the platform delivers it
            # again (no traceback: the message would carry the query's parameters).
            log.warning(
                "%s %s: the service is unavailable (%s), answered 503",
                request.method,
                _route_of(request),
                type(error).__name__,
            )
            return unavailable(RETRY_AFTER_SECONDS)
        # The route, not the path: a signed media link's path is its secret.
        log.exception("%s %s failed", request.method, _route_of(request))
        return problem(500, code="internal_error")
    if (
        response.status >= 400
        and isinstance(response, web.Response)
        and not response.prepared
        and response.content_type != PROBLEM_TYPE
        and not response.get(KEEPS_BODY, False)
    ):
        return _as_problem(response)
    return response


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
                await asyncio.wait_for(probe(), PROBE_TIMEOUT_SECONDS)
                report[name] = "ok"
            except Exception as error:
                log.warning("readiness probe %s failed: %s", name, error or type(error).__name__)
                report[name] = "unavailable"
                ready = False
        body = {"status": "ok" if ready else "unavailable", **report}
        if ready:
            return web.json_response(body)
        # Its own report, not a problem: probes and the operators reading them want each part.
        return keep_body(web.json_response(body, status=503))

    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[problems],
        # Bodies reach the handlers as sent: no platform compresses its webhooks, and the
        # server's own inflating would turn a broken or exploding gzip body into an error
        # outside any handler (and a traceback). A compressed body is refused as unreadable.
        handler_args={"auto_decompress": False, "logger": ServerLog(server_logger)},
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for channel in channels:
        channel.register_routes(app)
    return app
