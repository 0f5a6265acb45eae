"""Reading a webhook's body as a client may send it, not as we hope it is.

Whoever can reach the web server can post anything to a webhook, before any credential is
checked (VK's secret and Twilio's signature need the body). So a body is read in bounded
size, without any Content-Encoding (no platform compresses its webhooks; a compressed body is
someone else's, and a broken or exploding one must not reach a decompressor), and parsed
defensively: whatever cannot be parsed, or nests deeper than any real update, is a 400 with
the channel's own detail. Never a 500, never a traceback from a client's input.

Each refusal is an `aiohttp.web.HTTPException` with a plain-text detail, which the web app
answers as `application/problem+json` with the status's code (`bad_request`), like the
channels' other transport refusals (`forbidden`).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

# Deeper than any Telegram update or VK event (a forwarded message inside a forwarded message
# adds two levels); far shallower than what would strain a parser or a validator.
MAX_JSON_DEPTH = 64
# Twilio posts about twenty fields, and a few more per media item (at most ten).
MAX_FORM_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"
IDENTITY = frozenset({"", "identity"})

log = logging.getLogger("bots.webhooks")


def refuse(detail: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=detail)


async def read_body(request: web.Request, detail: str) -> bytes:
    """The raw body, bounded by the app's `client_max_size` (a larger one is a 413); a
    Content-Encoding other than identity is refused before anything is read or inflated."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in IDENTITY:
        log.info("%s: a body with Content-Encoding %.32r refused", request.path, encoding)
        raise refuse(detail)
    try:
        return await request.read()
    except web.HTTPException:
        raise  # 413: larger than the app accepts
    except (ValueError, ConnectionError) as error:
        # A body the HTTP parser could not make sense of (a broken chunked encoding, say).
        log.info("%s: an unreadable body refused: %s", request.path, type(error).__name__)
        raise refuse(detail) from None


def parse_json(body: bytes, detail: str) -> Any:
    """A JSON document in UTF-8, nested at most `MAX_JSON_DEPTH` deep; else a 400."""
    if raw_nesting_exceeds(body, MAX_JSON_DEPTH):
        # Before the parser: its recursion is bounded only by the process's recursion limit,
        # which a library may have raised past what the C stack holds.
        raise refuse(detail)
    try:
        value = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        # ValueError: not UTF-8, not JSON, or an integer too long to convert;
        # RecursionError: nested deeper than the parser goes (it unwinds cleanly).
        raise refuse(detail) from None
    if nests_deeper_than(value, MAX_JSON_DEPTH):
        raise refuse(detail)
    return value


async def read_json(request: web.Request, detail: str) -> Any:
    return parse_json(await read_body(request, detail), detail)


# A JSON string (skipped whole, escapes included) or a bracket.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_OPENING = frozenset(b"[{")


def raw_nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether the brackets of a JSON text (outside its strings) nest deeper than `limit`:
    read by a scan, never by recursion. A text that is no JSON is the parser's to refuse."""
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        first = match.group()[0]
        if first in _OPENING:
            depth += 1
            if depth > limit:
                return True
        elif first != ord('"'):
            depth -= 1
    return False


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects inside `value` nest more than `limit` deep (iteratively, so
    that no depth can exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


async def read_form(request: web.Request, detail: str) -> MultiDictProxy[str]:
    """An `application/x-www-form-urlencoded` body of UTF-8 text, at most `MAX_FORM_FIELDS`
    fields, every pair `name=value`; else a 400. Repeated names are kept, in order."""
    if request.content_type != FORM_TYPE:
        raise refuse(detail)
    body = await read_body(request, detail)
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:
        # Not ASCII (a form is percent-encoded), percent-escapes that are not UTF-8, a field
        # without "=", or too many fields.
        raise refuse(detail) from None
    return MultiDictProxy(MultiDict(pairs))
