"""A WhatsApp side as tests drive one: the shop's Twilio account and number, the channel built on
a test runtime against the fake Twilio REST API, and the fixtures that serve it over real HTTP
(shared by test_whatsapp, test_webhook_input and every test that talks to WhatsApp)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.runtime import Runtime
from bots.whatsapp.channel import WhatsAppChannel
from bots.whatsapp.transport import create_client
from core.shared.clock import Clock
from tests.clocks import ShiftedClock
from tests.fakes.twilio_api import FakeTwilioAPI
from web.media import SignedMedia

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SHOP_NUMBER = "+14155238886"
MEDIA_KEY = b"test-media-key"


async def media_key() -> bytes:
    return MEDIA_KEY


WEBHOOK_PATH = "/webhook/whatsapp"


@dataclass
class WhatsApp:
    runtime: Runtime
    channel: WhatsAppChannel
    client: TestClient[Any, Any]
    fake: FakeTwilioAPI
    clock: ShiftedClock
    public_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_channel(
    runtime: Runtime,
    fake: FakeTwilioAPI,
    clock: Clock,
    *,
    public_url: str,
    token: str = AUTH_TOKEN,
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = (),
) -> WhatsAppChannel:
    return WhatsAppChannel(
        create_client(ACCOUNT_SID, token, api_url=fake.base_url),
        runtime.conversation,
        runtime.updates,
        runtime.conversations,
        runtime.program.members,
        account_sid=ACCOUNT_SID,
        sender=f"whatsapp:{SHOP_NUMBER}",
        auth_token=AUTH_TOKEN,
        public_url=public_url,
        media=SignedMedia(
            "whatsapp",
            media_key,
            clock=clock,
            store=runtime.conversations,
            program=runtime.program,
        ),
        clock=clock,
        trusted_proxies=trusted_proxies,
    )


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilioAPI]:
    async with FakeTwilioAPI(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake:
        yield fake


@contextlib.asynccontextmanager
async def serve_whatsapp(runtime: Runtime, fake: FakeTwilioAPI) -> AsyncIterator[WhatsApp]:
    """The runtime's web app serving the WhatsApp webhook over real HTTP."""
    # The port is chosen first: the public URL (what Twilio signs) must be known before the
    # routes are registered, and routes cannot be added once the server runs.
    port = free_port()
    public_url = f"http://127.0.0.1:{port}/"
    clock = ShiftedClock(runtime.program.clock)
    channel = build_channel(runtime, fake, clock, public_url=public_url)
    channel.register_webhook(runtime.web_app)
    client: TestClient[Any, Any] = TestClient(
        TestServer(runtime.web_app, host="127.0.0.1", port=port)
    )
    await client.start_server()
    try:
        yield WhatsApp(runtime, channel, client, fake, clock, public_url.rstrip("/"))
    finally:
        await client.close()
        await channel.close()


@pytest.fixture
async def whatsapp(runtime: Runtime, fake_twilio: FakeTwilioAPI) -> AsyncIterator[WhatsApp]:
    async with serve_whatsapp(runtime, fake_twilio) as served:
        yield served
