"""Property-based fuzzing of every webhook and of the conversation. Whatever arrives (any body,
any headers, any button payload, any text) the answer is never a 500, an error is a
problem+json document, nothing is logged at ERROR or with a traceback, and a member's ledger
still passes its audit afterwards."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from app.runtime import Runtime
from bots.telegram.channel import SECRET_HEADER
from core.members.accounts import IdentityKey, Profile
from handlers import actions as action_kinds
from handlers.messages import Incoming
from handlers.routing import Action
from tests.clocks import ShiftedClock
from tests.conftest import WEBHOOK_SECRET
from tests.data import enrol
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI, signed_inbound
from tests.fakes.vk_api import FakeVkAPI
from tests.test_vk import GROUP_ID, SECRET, channel_for
from tests.whatsapp_member import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SHOP_NUMBER,
    WEBHOOK_PATH,
    build_channel,
    free_port,
)
from web.app import PROBLEM_TYPE

# An update with no known field is ignored by aiogram with this warning: that is the point of it.
pytestmark = pytest.mark.filterwarnings("ignore:Detected unknown update type:RuntimeWarning")

FUZZ = settings(
    # FUZZ_EXAMPLES=2000 for a longer hunt; the default keeps the file near 10 s per backend.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Header names and values aiohttp's client will send (it refuses CR/LF and non-latin-1 itself).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=40
)
header_name = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"),
    min_size=1,
    max_size=20,
)
chosen_header = st.sampled_from(
    [
        "Content-Type",
        "Content-Encoding",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "Forwarded",
        "Host",
        "X-Twilio-Signature",
        "Accept",
    ]
)
headers = st.dictionaries(st.one_of(chosen_header, header_name), header_text, max_size=5)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json; charset=latin-1",
        "",
    ]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
)


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        record
        for record in caplog.records
        if record.levelno >= logging.ERROR or record.exc_info or record.exc_text
    ]
    assert bad == [], [record.getMessage() for record in bad]


async def acceptable(response: Any) -> None:
    text = await response.text()
    assert response.status < 500, (response.status, text)
    if response.status >= 400:
        assert response.content_type == PROBLEM_TYPE, (response.status, text)


@dataclass
class Webhooks:
    runtime: Runtime
    client: TestClient[Any, Any]
    public_url: str
    telegram: FakeTelegramAPI
    vk: FakeVkAPI


@pytest.fixture
async def webhooks(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> AsyncIterator[Webhooks]:
    """The runtime's own web app with all three webhooks on it, served over real HTTP."""
    runtime = telegram_runtime
    async with (
        FakeVkAPI(group_id=GROUP_ID, secret=SECRET) as fake_vk,
        FakeTwilioAPI(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake_twilio,
    ):
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        vk = channel_for(fake_vk, runtime.conversation, runtime.updates, runtime.conversations)
        vk.register_webhook(runtime.web_app)
        whatsapp = build_channel(
            runtime, fake_twilio, ShiftedClock(runtime.program.clock), public_url=public_url
        )
        whatsapp.register_webhook(runtime.web_app)
        client: TestClient[Any, Any] = TestClient(
            TestServer(runtime.web_app, host="127.0.0.1", port=port)
        )
        await client.start_server()
        try:
            yield Webhooks(runtime, client, public_url, fake_telegram, fake_vk)
        finally:
            await client.close()
            await whatsapp.close()
            await vk.close()


# ---------------------------------------------------------------------- Telegram
updates = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-(2**40), max_value=2**40)},
    optional={
        "message": st.fixed_dictionaries(
            {
                "message_id": st.integers(min_value=1, max_value=2**31),
                "date": st.integers(min_value=0, max_value=2**33),
                "chat": st.fixed_dictionaries(
                    {"id": st.integers(min_value=1, max_value=2**40), "type": st.just("private")}
                ),
                "from": st.fixed_dictionaries(
                    {
                        "id": st.integers(min_value=1, max_value=2**40),
                        "is_bot": st.booleans(),
                        "first_name": st.text(max_size=20),
                    },
                    optional={"language_code": st.text(max_size=8)},
                ),
            },
            optional={"text": st.text(max_size=200), "contact": json_values},
        ),
        "callback_query": json_values,
    },
)


@FUZZ
@given(body=bodies, extra=headers, content_type=content_types, with_secret=st.booleans())
async def test_telegram_webhook_survives_anything(
    webhooks: Webhooks,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    extra: dict[str, str],
    content_type: str,
    with_secret: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    sent = {**extra, "Content-Type": content_type}
    if with_secret:
        sent[SECRET_HEADER] = WEBHOOK_SECRET
    response = await webhooks.client.post("/webhook/telegram", data=body, headers=sent)
    await acceptable(response)
    if not with_secret:
        assert response.status == 403
    no_traceback(caplog)


@FUZZ
@given(update=updates)
async def test_telegram_webhook_survives_any_update(
    webhooks: Webhooks, caplog: pytest.LogCaptureFixture, update: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await webhooks.client.post(
        "/webhook/telegram", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
    )
    await acceptable(response)
    no_traceback(caplog)


# ---------------------------------------------------------------------- VK
vk_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["message_new", "message_event", "confirmation"]) | st.text(),
        "group_id": st.just(GROUP_ID) | st.integers(),
        "secret": st.just(SECRET) | st.text(max_size=20),
    },
    optional={"object": json_values, "event_id": st.text(max_size=20), "v": st.text(max_size=6)},
)


@FUZZ
@given(body=bodies | vk_events.map(lambda e: json.dumps(e).encode()), extra=headers)
async def test_vk_webhook_survives_anything(
    webhooks: Webhooks, caplog: pytest.LogCaptureFixture, body: bytes, extra: dict[str, str]
) -> None:
    caplog.set_level(logging.DEBUG)
    sent = {**extra, "Content-Type": "application/json"}
    response = await webhooks.client.post("/webhook/vk", data=body, headers=sent)
    await acceptable(response)
    no_traceback(caplog)


# ---------------------------------------------------------------------- WhatsApp
form_fields = st.sampled_from(
    ["From", "To", "Body", "WaId", "ProfileName", "ButtonPayload", "MessageSid", "AccountSid",
     "NumMedia", "MessageType", "MediaUrl0", "MediaContentType0"]
) | st.text(max_size=12)  # fmt: skip
forms = st.dictionaries(form_fields, st.text(max_size=60), max_size=10)


@FUZZ
@given(body=bodies, extra=headers, content_type=content_types)
async def test_whatsapp_webhook_survives_anything_unsigned(
    webhooks: Webhooks,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    extra: dict[str, str],
    content_type: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    sent = {**extra, "Content-Type": content_type}
    response = await webhooks.client.post(WEBHOOK_PATH, data=body, headers=sent)
    await acceptable(response)
    no_traceback(caplog)


@FUZZ
@given(form=forms, sender=st.booleans())
async def test_whatsapp_webhook_survives_any_signed_form(
    webhooks: Webhooks, caplog: pytest.LogCaptureFixture, form: dict[str, str], sender: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    if sender:
        # Often enough a plausible member and account, so the form reaches the conversation.
        form = {"AccountSid": ACCOUNT_SID, "From": "whatsapp:+79990001299", **form}
    url = webhooks.public_url + WEBHOOK_PATH
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    response = await webhooks.client.post(
        WEBHOOK_PATH,
        data=urlencode(form).encode(),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    await acceptable(response)
    no_traceback(caplog)


# ---------------------------------------------------------------------- the conversation
# Every prefix the conversation routes, so arbitrary fields reach each kind's decoder.
KNOWN_ACTIONS = sorted(
    kind.prefix
    for kind in vars(action_kinds).values()
    if isinstance(kind, type) and issubclass(kind, Action) and kind.prefix
)
segment = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=12),
    st.sampled_from(["", "0", "1", "-1", "x", "1e3", "٣", "00", " 1"]),
)
actions = st.one_of(
    st.text(max_size=40),
    st.sampled_from(KNOWN_ACTIONS),
    st.tuples(st.sampled_from(KNOWN_ACTIONS), st.lists(segment, max_size=4)).map(
        lambda parts: ":".join([parts[0], *parts[1]])
    ),
)


@FUZZ
@given(
    steps=st.lists(
        st.tuples(st.text(max_size=80), st.none() | actions, st.sampled_from(["en", "ru", "fa"])),
        min_size=1,
        max_size=6,
    )
)
async def test_the_conversation_survives_any_text_and_any_button(
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    steps: list[tuple[str, str | None, str]],
) -> None:
    caplog.set_level(logging.DEBUG)
    profile = await joined(runtime)
    for text, action, language in steps:
        message = Incoming("telegram", "fuzz", text=text, action=action, language_code=language)
        replies = await runtime.conversation.handle(message)
        assert len(replies) >= 1, (text, action)
    audit = await runtime.program.ledger.audit(profile.id)
    assert audit.consistent, audit
    no_traceback(caplog)


async def joined(runtime: Runtime) -> Profile:
    """The member "fuzz", joined once and given points, whichever example comes first."""
    found = await runtime.program.members.find(IdentityKey("telegram", "fuzz"))
    if found is not None:
        return found
    profile = await enrol(runtime, "fuzz")
    await runtime.program.ledger.post(
        profile.id, 500, reason="bonus", actor="marketer", idempotency_key=f"fuzz-gift-{profile.id}"
    )
    return profile


# ---------------------------------------------------------------------- members' messages, any text
languages = st.none() | st.sampled_from(["en", "ru", "fa", "de", ""]) | st.text(max_size=8)


@FUZZ
@given(
    user=st.integers(min_value=1, max_value=2**40),
    text=st.text(max_size=200),
    data=actions,
    language=languages,
    press=st.booleans(),
)
async def test_telegram_messages_and_buttons_with_anything_in_them(
    webhooks: Webhooks,
    caplog: pytest.LogCaptureFixture,
    user: int,
    text: str,
    data: str,
    language: str | None,
    press: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = webhooks.telegram
    update = (
        fake.callback_update(user_id=user, data=data, language_code=language)
        if press
        else fake.message_update(user_id=user, text=text, language_code=language)
    )
    response = await webhooks.client.post(
        "/webhook/telegram", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
    )
    await acceptable(response)
    no_traceback(caplog)


@FUZZ
@given(
    user=st.integers(min_value=-(2**40), max_value=2**40),
    text=st.text(max_size=200),
    payload=json_values | actions.map(lambda action: {"action": action}),
    event=st.booleans(),
)
async def test_vk_messages_and_buttons_with_anything_in_them(
    webhooks: Webhooks,
    caplog: pytest.LogCaptureFixture,
    user: int,
    text: str,
    payload: Any,
    event: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = webhooks.vk
    update = fake.message_event(user, payload) if event else fake.message_new(user, text, payload)
    response = await webhooks.client.post("/webhook/vk", json=update)
    await acceptable(response)
    no_traceback(caplog)


@FUZZ
@given(
    number=st.sampled_from(["+79990001298", "+1", "+", "", "12345678901234567890"])
    | st.text(max_size=16),
    text=st.text(max_size=200),
    button=st.none() | actions,
    name=st.text(max_size=30),
)
async def test_whatsapp_messages_and_buttons_with_anything_in_them(
    webhooks: Webhooks,
    caplog: pytest.LogCaptureFixture,
    number: str,
    text: str,
    button: str | None,
    name: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    form, sent = signed_inbound(
        webhooks.public_url + WEBHOOK_PATH,
        AUTH_TOKEN,
        account_sid=ACCOUNT_SID,
        from_number=number,
        to_number=SHOP_NUMBER,
        body=text,
        profile_name=name,
        button_payload=button or None,
    )
    response = await webhooks.client.post(
        WEBHOOK_PATH,
        data=urlencode(form).encode(),
        headers={**sent, "Content-Type": "application/x-www-form-urlencoded"},
    )
    await acceptable(response)
    no_traceback(caplog)
