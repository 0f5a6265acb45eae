"""Signed, expiring links to media a platform fetches from us.

WhatsApp (through Twilio) takes images only by URL and documents only as PDF or Office files, so
a member's card QR, a coupon's QR and the data export go out as links: `<subject>-<unix
expiry>-<HMAC>`, where the HMAC covers the kind of media too (a card link cannot fetch an
export). Nothing but the signature and the expiry is checked before anything is looked up, so
guessing costs no query. A card or an export link names the member and nothing more: what it
serves is made on each fetch (the export by the handlers' own builder), so personal data is
never kept outside the database, and a member who is forgotten is forgotten behind their links
too. Other images live in the shared store (Redis on real deployments), so any process behind
the load balancer can serve Twilio's fetch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import timedelta

from aiohttp import web

from core.db.state import ConversationStore
from core.program import LoyaltyProgram
from core.shared import qr
from core.shared.clock import Clock
from handlers.menus.privacy import export_document
from handlers.messages import Image
from web.app import problem

# Short: a link names one member's card, or all their personal data.
LIFETIME = timedelta(minutes=10)
CARD = "card"
EXPORT = "export"
IMAGE = "image"
SUBJECT_TOKEN = re.compile(
    r"(?P<subject>[0-9]{1,18})-(?P<expires>[0-9]{1,12})-(?P<signature>[0-9a-f]{64})"
)
IMAGE_TOKEN = re.compile(
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
        key: bytes,
        *,
        clock: Clock,
        store: ConversationStore,
        program: LoyaltyProgram,
    ) -> None:
        self.namespace = namespace
        self.prefix = f"/media/{namespace}"
        self._key = key
        self._clock = clock
        # Entries here should outlive their links a little and no more.
        self._store = store
        self._program = program

    def mount(self, app: web.Application) -> None:
        app.router.add_get(self.prefix + "/image/{token}.png", self._serve_image)
        app.router.add_get(self.prefix + "/{token}.png", self._serve_card)
        app.router.add_get(self.prefix + "/{token}.json", self._serve_document)

    # ------------------------------------------------------------------ links
    def token(self, subject: int | str, expires: int, *, kind: str) -> str:
        return f"{subject}-{expires}-{self._signature(subject, expires, kind)}"

    def _expiry(self) -> int:
        return int((self._clock.now() + LIFETIME).timestamp())

    def card_path(self, member_id: int) -> str:
        return f"{self.prefix}/{self.token(member_id, self._expiry(), kind=CARD)}.png"

    async def image_path(self, image: Image) -> str:
        digest = hashlib.sha256(image.png).hexdigest()[:32]
        stored = {"png": base64.b64encode(image.png).decode()}
        await self._store.set(media_store_key(self.namespace, IMAGE, digest), stored)
        return f"{self.prefix}/image/{self.token(digest, self._expiry(), kind=IMAGE)}.png"

    def export_path(self, member_id: int) -> str:
        return f"{self.prefix}/{self.token(member_id, self._expiry(), kind=EXPORT)}.json"

    def _signature(self, subject: int | str, expires: int, kind: str) -> str:
        message = f"{self.namespace}-{kind}:{subject}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _verified(self, token: str, kind: str, pattern: re.Pattern[str]) -> str | web.Response:
        """The subject a genuine, fresh token of this kind names, else the 403 to answer."""
        match = pattern.fullmatch(token)
        if match is None:
            return problem(403, code="forbidden", detail="not a link we signed")
        subject, expires = match["subject"], int(match["expires"])
        if kind != IMAGE:
            subject = str(int(subject))  # as it was signed
        expected = self._signature(subject, expires, kind)
        if not hmac.compare_digest(match["signature"].encode(), expected.encode()):
            return problem(403, code="forbidden", detail="not a link we signed")
        if expires < self._clock.now().timestamp():
            return problem(403, code=LINK_EXPIRED, detail="the link has expired")
        return subject

    # ------------------------------------------------------------------ serving
    async def _serve_card(self, request: web.Request) -> web.Response:
        """The current card QR of the member a token names."""
        verified = self._verified(request.match_info["token"], CARD, SUBJECT_TOKEN)
        if isinstance(verified, web.Response):
            return verified
        # An unknown member is MemberNotFound, which the web app answers as its 404 problem.
        member = await self._program.members.get(int(verified))
        return web.Response(
            body=qr.png(member.card_code), content_type="image/png", headers=PRIVATE_CACHE
        )

    async def _serve_image(self, request: web.Request) -> web.Response:
        verified = self._verified(request.match_info["token"], IMAGE, IMAGE_TOKEN)
        if isinstance(verified, web.Response):
            return verified
        stored = await self._store.get(media_store_key(self.namespace, IMAGE, verified))
        if not stored or "png" not in stored:
            raise web.HTTPNotFound()
        return web.Response(
            body=base64.b64decode(stored["png"]), content_type="image/png", headers=PRIVATE_CACHE
        )

    async def _serve_document(self, request: web.Request) -> web.Response:
        """The data export of the member a token names, built afresh by the handlers on every
        fetch; personal data, so never cached on the way."""
        verified = self._verified(request.match_info["token"], EXPORT, SUBJECT_TOKEN)
        if isinstance(verified, web.Response):
            return verified
        document = await export_document(self._program, int(verified))
        return web.Response(
            body=document.content,
            content_type=document.mime_type,
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{document.filename}"',
                "Cache-Control": "no-store",
            },
        )
