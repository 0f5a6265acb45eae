"""Signed, expiring links to media a platform fetches from us.

WhatsApp (through Twilio) takes images only by URL and documents only as PDF or Office files, so
a member's card QR, a coupon's QR and the data export go out as links: `<subject>-<unix
expiry>-<HMAC>`, where the HMAC covers the kind of media too (a card link cannot fetch an
export). The key is the installation's own secret (installation_secrets), not derived from
any platform's credentials: holding the Twilio token mints no link. Nothing but the signature
and the expiry is checked before anything is looked up, so guessing costs no query. A card or
an export link names the member by a random reference that lives as long as the link (in the
shared store), never by their sequential id; what it serves is made on each fetch (the export
by the handlers' own builder), so personal data is never kept outside the database, and a
member who is forgotten is forgotten behind their links too. Other images live in the shared
store (Redis on real deployments), so any process behind the load balancer can serve Twilio's
fetch. A broadcast's image is in the database with the broadcast (core.broadcasts.images):
its link, `broadcast/<id>/<sha-256 of the bytes>.<png|jpg>`, needs no signature (the digest
cannot be guessed without the image) and works for as long as the broadcast is kept, however
late Twilio fetches it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from core.broadcasts.images import EXTENSIONS, stored_image
from core.db.state import ConversationStore
from core.program import LoyaltyProgram
from core.shared import qr
from core.shared.clock import Clock
from handlers.menus.privacy import export_document
from handlers.messages import Image, StoredImage
from web.app import problem

# Short: a link names one member's card, or all their personal data.
LIFETIME = timedelta(minutes=10)
CARD = "card"
EXPORT = "export"
IMAGE = "image"
# The installation secret the links are signed with.
MEDIA_KEY = "media_signing_key"
# A reference (to a member, or an image's digest): 32 hex digits.
TOKEN = re.compile(
    r"(?P<subject>[0-9a-f]{32})-(?P<expires>[0-9]{1,12})-(?P<signature>[0-9a-f]{64})"
)
# The code of a genuine link that is too old (a forged one is plain "forbidden").
LINK_EXPIRED = "link_expired"
PRIVATE_CACHE = {"Cache-Control": "private, max-age=600"}


def media_store_key(namespace: str, kind: str, subject: str) -> str:
    return f"{namespace}-{kind}:{subject}"


class SignedMedia:
    """One namespace of signed links (e.g. "whatsapp" under /media/whatsapp/)."""

    def __init__(
        self,
        namespace: str,
        key: Callable[[], Awaitable[bytes]],
        *,
        clock: Clock,
        store: ConversationStore,
        program: LoyaltyProgram,
    ) -> None:
        self.namespace = namespace
        self.prefix = f"/media/{namespace}"
        # Loaded on first use (the database holds it), then kept.
        self._load_key = key
        self._key: bytes | None = None
        self._clock = clock
        # Entries here should outlive their links a little and no more.
        self._store = store
        self._program = program

    def mount(self, app: web.Application) -> None:
        app.router.add_get(self.prefix + "/image/{token}.png", self._serve_image)
        app.router.add_get(
            self.prefix + r"/broadcast/{broadcast:[0-9]{1,18}}/{digest:[0-9a-f]{64}}.{ext}",
            self._serve_stored,
        )
        app.router.add_get(self.prefix + "/{token}.png", self._serve_card)
        app.router.add_get(self.prefix + "/{token}.json", self._serve_document)

    # ------------------------------------------------------------------ links
    async def token(self, subject: str, expires: int, *, kind: str) -> str:
        return f"{subject}-{expires}-{await self._signature(subject, expires, kind)}"

    def _expiry(self) -> int:
        return int((self._clock.now() + LIFETIME).timestamp())

    async def _reference(self, kind: str, member_id: int) -> str:
        """A random name for the member, kept as long as the link lives."""
        reference = secrets.token_hex(16)
        await self._store.set(
            media_store_key(self.namespace, kind, reference), {"member_id": member_id}
        )
        return reference

    async def card_path(self, member_id: int) -> str:
        reference = await self._reference(CARD, member_id)
        return f"{self.prefix}/{await self.token(reference, self._expiry(), kind=CARD)}.png"

    async def image_path(self, image: Image) -> str:
        digest = hashlib.sha256(image.png).hexdigest()[:32]
        stored = {"png": base64.b64encode(image.png).decode()}
        await self._store.set(media_store_key(self.namespace, IMAGE, digest), stored)
        token = await self.token(digest, self._expiry(), kind=IMAGE)
        return f"{self.prefix}/image/{token}.png"

    def stored_image_path(self, image: StoredImage) -> str:
        return f"{self.prefix}/broadcast/{image.broadcast_id}/{image.digest}.{image.extension}"

    async def export_path(self, member_id: int) -> str:
        reference = await self._reference(EXPORT, member_id)
        return f"{self.prefix}/{await self.token(reference, self._expiry(), kind=EXPORT)}.json"

    async def _signature(self, subject: str, expires: int, kind: str) -> str:
        if self._key is None:
            self._key = await self._load_key()
        message = f"{self.namespace}-{kind}:{subject}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def _verified(self, token: str, kind: str) -> str | web.Response:
        """The subject a genuine, fresh token of this kind names, else the 403 to answer."""
        match = TOKEN.fullmatch(token)
        if match is None:
            return problem(403, code="forbidden", detail="not a link we signed")
        subject, expires = match["subject"], int(match["expires"])
        expected = await self._signature(subject, expires, kind)
        if not hmac.compare_digest(match["signature"].encode(), expected.encode()):
            return problem(403, code="forbidden", detail="not a link we signed")
        if expires < self._clock.now().timestamp():
            return problem(403, code=LINK_EXPIRED, detail="the link has expired")
        return subject

    # ------------------------------------------------------------------ serving
    async def _member_of(self, token: str, kind: str) -> int | web.Response:
        """The member a genuine, fresh token's reference names, else the problem to answer."""
        verified = await self._verified(token, kind)
        if isinstance(verified, web.Response):
            return verified
        stored = await self._store.get(media_store_key(self.namespace, kind, verified))
        member_id = stored.get("member_id") if stored else None
        if not isinstance(member_id, int):
            # Signed by us, but its reference is gone (the store forgot it): as good as expired.
            return problem(403, code=LINK_EXPIRED, detail="the link has expired")
        return member_id

    async def _serve_card(self, request: web.Request) -> web.Response:
        """The current card QR of the member a token names."""
        member_id = await self._member_of(request.match_info["token"], CARD)
        if isinstance(member_id, web.Response):
            return member_id
        # An unknown member is MemberNotFound, which the web app answers as its 404 problem.
        member = await self._program.members.get(member_id)
        return web.Response(
            body=qr.png(member.card_code), content_type="image/png", headers=PRIVATE_CACHE
        )

    async def _serve_image(self, request: web.Request) -> web.Response:
        verified = await self._verified(request.match_info["token"], IMAGE)
        if isinstance(verified, web.Response):
            return verified
        stored = await self._store.get(media_store_key(self.namespace, IMAGE, verified))
        if not stored or "png" not in stored:
            raise web.HTTPNotFound()
        return web.Response(
            body=base64.b64decode(stored["png"]), content_type="image/png", headers=PRIVATE_CACHE
        )

    async def _serve_stored(self, request: web.Request) -> web.Response:
        """A broadcast's image, from the database (any process can answer Twilio's fetch)."""
        image = await stored_image(
            self._program.db, int(request.match_info["broadcast"]), request.match_info["digest"]
        )
        if image is None or EXTENSIONS[image.content_type] != request.match_info["ext"]:
            raise web.HTTPNotFound()
        return web.Response(
            body=image.content,
            content_type=image.content_type,
            headers={"Cache-Control": "public, max-age=86400, immutable"},
        )

    async def _serve_document(self, request: web.Request) -> web.Response:
        """The data export of the member a token names, built afresh by the handlers on every
        fetch; personal data, so never cached on the way."""
        member_id = await self._member_of(request.match_info["token"], EXPORT)
        if isinstance(member_id, web.Response):
            return member_id
        document = await export_document(self._program, member_id)
        return web.Response(
            body=document.content,
            content_type=document.mime_type,
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{document.filename}"',
                "Cache-Control": "no-store",
            },
        )
