"""A broadcast's images: checked and kept in the database at broadcast-create, loaded by the
engine for sending. Whatever the channels all take: PNG or JPEG of at most 5 MB (WhatsApp
through Twilio takes images of 5 MB at most, and only those two types; Telegram's photos go
to 10 MB, VK's photo upload takes PNG, JPEG and GIF). The type is read from the content, not
from the file's name.

The spec names a stored image by reference ("sha256:<hex digest>"); a spec of an older
version may still name a path (a legacy reference): nothing reads it, the broadcast fails
when it is sent (`ImageUnavailable`), with the reason in its status.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from core.broadcasts.errors import InvalidBroadcast
from core.db.database import Database
from core.db.models import BroadcastImage as BroadcastImageRow

MAX_IMAGE_BYTES = 5 * 1024 * 1024
PNG = "image/png"
JPEG = "image/jpeg"
EXTENSIONS = {PNG: "png", JPEG: "jpg"}
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))
REFERENCE = re.compile(r"^sha256:(?P<digest>[0-9a-f]{64})$")
MAX_FILENAME = 128


@dataclass(frozen=True)
class BroadcastImage:
    """An image as it is stored and sent."""

    broadcast_id: int
    digest: str
    content_type: str
    filename: str
    # Told apart by the digest (a message with it is compared and hashed per recipient).
    content: bytes = field(compare=False, repr=False)

    @property
    def reference(self) -> str:
        return reference_of(self.digest)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


class ImageUnavailable(Exception):
    """A broadcast names an image that is not stored with it (an older broadcast's path)."""


def reference_of(digest: str) -> str:
    return f"sha256:{digest}"


def digest_of(reference: str) -> str | None:
    """The digest a reference names; None for a legacy path."""
    match = REFERENCE.match(reference)
    return match["digest"] if match else None


def content_type_of(content: bytes) -> str | None:
    for signature, content_type in _SIGNATURES:
        if content.startswith(signature):
            return content_type
    return None


@dataclass(frozen=True)
class CheckedImage:
    digest: str
    content_type: str
    filename: str
    content: bytes


def too_large(name: str, size: int) -> InvalidBroadcast:
    return InvalidBroadcast(
        f"image: {name} is {size / (1024 * 1024):.1f} MB; every channel takes images of at "
        f"most {MAX_IMAGE_BYTES // (1024 * 1024)} MB (WhatsApp's limit)"
    )


def checked(name: str, content: bytes) -> CheckedImage:
    """The image as it will be stored; InvalidBroadcast says what is wrong with it."""
    if not content:
        raise InvalidBroadcast(f"image: {name} is empty")
    if len(content) > MAX_IMAGE_BYTES:
        raise too_large(name, len(content))
    content_type = content_type_of(content)
    if content_type is None:
        raise InvalidBroadcast(
            f"image: {name} is not a PNG or JPEG image (the types every channel takes)"
        )
    filename = name.replace("\\", "/").rsplit("/", 1)[-1][-MAX_FILENAME:] or "image"
    return CheckedImage(hashlib.sha256(content).hexdigest(), content_type, filename, content)


def unstored(references: Iterable[str], stored: Iterable[str]) -> list[str]:
    """The references (or legacy paths) that no stored image answers."""
    digests = set(stored)
    return sorted({ref for ref in references if digest_of(ref) not in digests})


async def stored_image(db: Database, broadcast_id: int, digest: str) -> BroadcastImage | None:
    """One stored image of a broadcast (what the web app serves to WhatsApp), or None."""
    if digest_of(reference_of(digest)) is None:
        return None
    async with db.reading() as session:
        row = await session.scalar(
            select(BroadcastImageRow).where(
                BroadcastImageRow.broadcast_id == broadcast_id,
                BroadcastImageRow.digest == digest,
            )
        )
    if row is None:
        return None
    return BroadcastImage(row.broadcast_id, row.digest, row.content_type, row.filename, row.content)
