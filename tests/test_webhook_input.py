"""Hostile input to the webhooks over real HTTP: bodies that cannot be parsed (deep nesting,
broken or any compression, bad encodings), Twilio fields shifted between names under a valid
signature, and forwarding headers from peers that are no proxy of ours. Each is refused with a
4xx problem, never a 500, never a traceback in the log."""

from __future__ import annotations

import asyncio
import gzip
import logging
import sys
from collections.abc import AsyncIterator
from ipaddress import ip_network
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict
from pydantic import ValidationError
from twilio.request_validator import RequestValidator

from app.runtime import Runtime, build_runtime
from app.settings import Settings
from bots.telegram.channel import SECRET_HEADER
from bots.webhooks import parse_json, raw_nesting_exceeds
from bots.whatsapp.channel import EMPTY_TWIML
from core.members.accounts import IdentityKey
from handlers.conversation import Conversation
from tests.conftest import WEBHOOK_SECRET, Backend, make_settings
from tests.fakes.twilio_api import FakeTwilioAPI, signed_inbound
from tests.fakes.vk_api import FakeVkAPI
from tests.telegram_member import webhook_client
from tests.test_vk import GROUP_ID, SECRET, SilentConversation, channel_for
from tests.whatsapp_member import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    WEBHOOK_PATH,
    WhatsApp,
    build_channel,
    fake_twilio,
    whatsapp,
)
from web.app import PROBLEM_TYPE, build_web_app

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
BROKEN_GZIP = b"\x1f\x8b\x08\x00" + b"not really gzip" * 10

# Fixtures this module uses (shared with every test that talks to WhatsApp).
__all__ = ["fake_twilio", "whatsapp"]


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """No ERROR record, and no record carrying a traceback, was written."""
    bad = [
        record
        for record in caplog.records
        if record.levelno >= logging.ERROR or record.exc_info or record.exc_text
    ]
    assert bad == [], [record.getMessage() for record in bad]


async def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM_TYPE
    return cast("dict[str, Any]", await response.json(content_type=PROBLEM_TYPE))


# ---------------------------------------------------------------------- VK
@pytest.fixture
async def fake_vk() -> AsyncIterator[FakeVkAPI]:
    async with FakeVkAPI(group_id=GROUP_ID, secret=SECRET) as fake:
        yield fake


@pytest.fixture
async def vk_client(fake_vk: FakeVkAPI) -> AsyncIterator[TestClient[Any, Any]]:
    channel = channel_for(fake_vk, cast(Conversation, SilentConversation()))
    app = build_web_app({}, [channel])
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await channel.close()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (DEEP, {"Content-Type": "application/json"}),
        (DEEP_OBJECT, {"Content-Type": "application/json"}),
        (BROKEN_GZIP, {"Content-Type": "application/json", "Content-Encoding": "gzip"}),
        (
            gzip.compress(b'{"type": "confirmation", "group_id": 227000001}'),
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        ),
        (b"\xff\xfe{}", {"Content-Type": "application/json"}),
        (b'{"group_id": ' + b"9" * 5000 + b"}", {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "application/json"}),
    ],
    ids=["deep-array", "deep-object", "broken-gzip", "gzip", "not-utf8", "huge-int", "empty"],
)
async def test_vk_refuses_a_body_it_cannot_parse_with_400(
    vk_client: TestClient[Any, Any],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await vk_client.post("/webhook/vk", data=body, headers=headers)
    await assert_problem(response, 400)
    no_traceback(caplog)


async def test_vk_refuses_deep_nesting_inside_a_valid_event(
    vk_client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Shallow enough for the parser, too deep for an event: refused before anything reads it."""
    caplog.set_level(logging.DEBUG)
    nested = b'{"a":' * 200 + b"1" + b"}" * 200
    body = b'{"type": "message_new", "group_id": %d, "secret": "x", "object": %s}' % (
        GROUP_ID,
        nested,
    )
    response = await vk_client.post(
        "/webhook/vk", data=body, headers={"Content-Type": "application/json"}
    )
    await assert_problem(response, 400)
    no_traceback(caplog)


async def test_vk_still_answers_a_plain_confirmation(vk_client: TestClient[Any, Any]) -> None:
    response = await vk_client.post(
        "/webhook/vk", json={"type": "confirmation", "group_id": GROUP_ID}
    )
    assert response.status == 200


# ---------------------------------------------------------------------- Telegram
@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (DEEP, None),
        (DEEP_OBJECT, None),
        (BROKEN_GZIP, "gzip"),
        (gzip.compress(b'{"update_id": 1}'), "gzip"),
        (b"\xff\xfe{}", None),
        (b'{"update_id": ' + b"9" * 5000 + b"}", None),
        (b'{"update_id": 1, "message": ' + b"[" * 300 + b"]" * 300 + b"}", None),
    ],
    ids=["deep-array", "deep-object", "broken-gzip", "gzip", "not-utf8", "huge-int", "nested"],
)
async def test_telegram_refuses_a_body_it_cannot_parse_with_400(
    telegram_runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    encoding: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
    }
    if encoding:
        headers["Content-Encoding"] = encoding
    async with webhook_client(telegram_runtime) as client:
        response = await client.post("/webhook/telegram", data=body, headers=headers)
        await assert_problem(response, 400)
        # Without the secret nothing is even read: 403 whatever the body.
        del headers[SECRET_HEADER]
        response = await client.post("/webhook/telegram", data=body, headers=headers)
        await assert_problem(response, 403)
    no_traceback(caplog)


# ---------------------------------------------------------------------- WhatsApp
def signed(whatsapp: WhatsApp, form: dict[str, str]) -> dict[str, str]:
    url = whatsapp.public_url + WEBHOOK_PATH
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


def inbound(whatsapp: WhatsApp, number: str, body: str = "Hello") -> dict[str, str]:
    form, _ = signed_inbound(
        whatsapp.public_url + WEBHOOK_PATH,
        AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        from_number=number,
        to_number=SHOP_NUMBER,
        body=body,
    )
    return form


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (
            gzip.compress(b"From=whatsapp%3A%2B79990001201&Body=Hi"),
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
        ),
        (
            BROKEN_GZIP,
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
        ),
        (b"Body=%ff%fe&From=x", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"\xff\xfe=\xff", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"&".join([b"a=b"] * 20_000), {"Content-Type": "application/x-www-form-urlencoded"}),
        (
            b'--x\r\nContent-Disposition: form-data; name="Body"\r\n\r\nHi\r\n--x--\r\n',
            {"Content-Type": "multipart/form-data; boundary=x"},
        ),
        (b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"}),
    ],
    ids=["gzip", "broken-gzip", "bad-percent", "not-utf8", "many-fields", "multipart", "broken"],
)
async def test_whatsapp_refuses_a_body_it_cannot_parse_with_400(
    whatsapp: WhatsApp,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    headers: dict[str, str],
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await whatsapp.client.post(WEBHOOK_PATH, data=body, headers=headers)
    await assert_problem(response, 400)
    assert whatsapp.fake.calls == []
    no_traceback(caplog)


async def test_a_shifted_but_correctly_signed_whatsapp_request_is_refused(
    whatsapp: WhatsApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Twilio signs names and values run together: moving `MessageType` into `MessageSid`
    keeps the signature valid and would change the de-duplication key."""
    caplog.set_level(logging.DEBUG)
    number = "+79990001202"
    form = inbound(whatsapp, number)
    headers = signed(whatsapp, form)
    response = await whatsapp.client.post(WEBHOOK_PATH, data=form, headers=headers)
    assert (response.status, await response.text()) == (200, EMPTY_TWIML)
    assert len(whatsapp.fake.sent_to(number)) == 1

    shifted = {name: value for name, value in form.items() if name != "MessageType"}
    shifted["MessageSid"] = form["MessageSid"] + "MessageType" + form["MessageType"]
    # The very same signature covers it.
    assert signed(whatsapp, shifted) == headers
    response = await whatsapp.client.post(WEBHOOK_PATH, data=shifted, headers=headers)
    await assert_problem(response, 400)
    assert len(whatsapp.fake.sent_to(number)) == 1, "answered once"
    no_traceback(caplog)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MessageSid", "SM123"),
        ("MessageSid", "XX" + "0" * 32),
        ("MessageSid", "SM" + "g" * 32),
        ("AccountSid", "AC" + "0" * 31),
        ("AccountSid", "SM" + "0" * 32),
        ("From", "whatsapp:+7999abc"),
        ("From", "whatsapp:+79990001203MessageSidSM"),
        ("To", "whatsapp:14155238886x"),
        ("MessageType", "text\n"),
        ("NumMedia", "one"),
        ("WaId", "+7999"),
        ("SmsSid", "SM1"),
    ],
)
async def test_a_signed_request_with_a_malformed_field_is_refused(
    whatsapp: WhatsApp, field: str, value: str
) -> None:
    number = "+79990001203"
    form = {**inbound(whatsapp, number), field: value}
    response = await whatsapp.client.post(WEBHOOK_PATH, data=form, headers=signed(whatsapp, form))
    await assert_problem(response, 400)
    assert whatsapp.fake.calls == []


async def test_a_signed_request_without_a_message_sid_or_with_it_twice_is_refused(
    whatsapp: WhatsApp,
) -> None:
    form = {k: v for k, v in inbound(whatsapp, "+79990001204").items() if k != "MessageSid"}
    response = await whatsapp.client.post(WEBHOOK_PATH, data=form, headers=signed(whatsapp, form))
    await assert_problem(response, 400)
    pairs = [*inbound(whatsapp, "+79990001204").items()]
    twice = [*pairs, ("MessageSid", "SM" + "1" * 32)]
    url = whatsapp.public_url + WEBHOOK_PATH
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, MultiDict(twice))
    response = await whatsapp.client.post(
        WEBHOOK_PATH, data=twice, headers={"X-Twilio-Signature": signature}
    )
    await assert_problem(response, 400)
    assert whatsapp.fake.calls == []


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("AccountSid", "AC" + "f" * 32, "not our Twilio account"),
        ("AccountSid", ACCOUNT_SID[:-1] + "0", "not our Twilio account"),
        ("To", "whatsapp:+14155230000", "not our WhatsApp number"),
        ("To", "+14155238886", "not our WhatsApp number"),  # our number, but by SMS
    ],
)
async def test_a_signed_message_for_another_account_or_number_is_refused_and_not_handled(
    whatsapp: WhatsApp, caplog: pytest.LogCaptureFixture, field: str, value: str, detail: str
) -> None:
    """Signed with our token, shaped as Twilio writes it, yet for another account (a
    subaccount's or a leaked token's) or to a number that is not our WhatsApp sender: 403,
    nothing handled, nothing answered, nothing de-duplicated (the real one still counts)."""
    number = "+79990001206"
    form = {**inbound(whatsapp, number), field: value}
    response = await whatsapp.client.post(WEBHOOK_PATH, data=form, headers=signed(whatsapp, form))
    problem = await assert_problem(response, 403)
    assert problem["code"] == "forbidden" and problem["detail"] == detail
    assert whatsapp.fake.calls == []
    assert await whatsapp.runtime.program.members.find(IdentityKey("whatsapp", number)) is None
    no_traceback(caplog)

    # The same message for our account and number is handled as usual.
    real = {**form, "AccountSid": ACCOUNT_SID, "To": f"whatsapp:{SHOP_NUMBER}"}
    response = await whatsapp.client.post(WEBHOOK_PATH, data=real, headers=signed(whatsapp, real))
    assert (response.status, await response.text()) == (200, EMPTY_TWIML)
    assert len(whatsapp.fake.sent_to(number)) == 1


# ---------------------------------------------------------------------- forwarding headers
async def forwarded_post(runtime: Runtime, fake: FakeTwilioAPI, trusted: str, number: str) -> int:
    """Twilio signed for https://shop.example; the request comes from 127.0.0.1 with
    forwarding headers that say so."""
    networks = Settings(trusted_proxies=trusted).trusted_proxy_networks
    channel = build_channel(
        runtime, fake, runtime.program.clock, public_url="", trusted_proxies=networks
    )
    app = web.Application()
    channel.register_webhook(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        form, headers = signed_inbound(
            "https://shop.example" + WEBHOOK_PATH,
            AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            from_number=number,
            to_number=SHOP_NUMBER,
            body="Hello",
        )
        response = await client.post(
            WEBHOOK_PATH,
            data=form,
            headers={**headers, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example"},
        )
        return response.status
    finally:
        await client.close()
        await channel.close()


async def test_forwarding_headers_from_a_peer_that_is_no_trusted_proxy_are_ignored(
    runtime: Runtime, fake_twilio: FakeTwilioAPI
) -> None:
    assert await forwarded_post(runtime, fake_twilio, "", "+79990001205") == 403
    assert await forwarded_post(runtime, fake_twilio, "10.0.0.0/8,::1", "+79990001206") == 403
    assert fake_twilio.calls == []
    assert (
        await forwarded_post(runtime, fake_twilio, "10.0.0.0/8, 127.0.0.1", "+79990001207") == 200
    )
    assert await forwarded_post(runtime, fake_twilio, "127.0.0.0/8", "+79990001208") == 200


def test_trusted_proxies_are_addresses_or_networks(backend: Backend) -> None:
    settings = make_settings(backend, trusted_proxies="127.0.0.1, 10.0.0.0/8 ,::1")
    assert settings.trusted_proxy_networks == (
        ip_network("127.0.0.1/32"),
        ip_network("10.0.0.0/8"),
        ip_network("::1/128"),
    )
    assert make_settings(backend).trusted_proxy_networks == ()
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        make_settings(backend, trusted_proxies="localhost")


async def test_vk_refuses_an_oversized_or_broken_body_without_a_traceback(
    vk_client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    huge = b'{"type": "confirmation", "pad": "' + b"x" * (2 * 1024**2) + b'"}'
    response = await vk_client.post(
        "/webhook/vk", data=huge, headers={"Content-Type": "application/json"}
    )
    await assert_problem(response, 413)
    # A chunked body whose chunk sizes lie: the HTTP parser's own 400, nothing in our log.
    server = vk_client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /webhook/vk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"400", status_line
    no_traceback(caplog)


async def test_trusted_proxies_reach_the_whatsapp_channel_of_the_built_runtime(
    backend: Backend, settings: Settings, fake_twilio: FakeTwilioAPI
) -> None:
    for trusted, expected in (("", 403), ("127.0.0.1", 200)):
        runtime = build_runtime(
            make_settings(
                backend,
                twilio_account_sid=ACCOUNT_SID,
                twilio_auth_token=AUTH_TOKEN,
                twilio_whatsapp_from=f"whatsapp:{SHOP_NUMBER}",
                twilio_api_url=fake_twilio.base_url,
                trusted_proxies=trusted,
            )
        )
        try:
            async with TestClient(TestServer(runtime.web_app, host="127.0.0.1")) as client:
                form, headers = signed_inbound(
                    "https://shop.example" + WEBHOOK_PATH,
                    AUTH_TOKEN,
                    account_sid=ACCOUNT_SID,
                    from_number="+79990001209",
                    to_number=SHOP_NUMBER,
                    body="Hello",
                )
                forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example"}
                response = await client.post(
                    WEBHOOK_PATH, data=form, headers={**headers, **forwarded}
                )
                assert response.status == expected, trusted
        finally:
            await runtime.close()


def test_a_deep_body_is_refused_before_the_parser_whatever_the_recursion_limit() -> None:
    """A library may raise the process's recursion limit (py_ecc sets 100,000): json's parser
    would then recurse until the C stack overflows, a segfault that takes the process down.
    The nesting is read by a scan first, and strings are no nesting."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(web.HTTPBadRequest):
            parse_json(b"[" * 200_000 + b"]" * 200_000, "not an update")
    finally:
        sys.setrecursionlimit(limit)
    nested_in_a_string = b'{"text": "' + b"[" * 1000 + b'", "ok": [[1]]}'
    assert parse_json(nested_in_a_string, "not an update") == {
        "text": "[" * 1000,
        "ok": [[1]],
    }
    assert raw_nesting_exceeds(b'{"a": "\\"[[["}', 1) is False
    assert raw_nesting_exceeds(b"[[1]]", 1) is True
