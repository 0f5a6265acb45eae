"""What a VK event carries, read defensively: VK's shapes vary by API version and an event's
body is not ours, so anything not as documented is ignored, never raised on."""

from __future__ import annotations

import json
import re
from typing import Any, TypeGuard

# A message carries at most 10 attachments and a photo a dozen sizes: anything past these
# bounds is not looked at.
MAX_ATTACHMENTS = 10
MAX_SIZES = 20
# What a proof keeps of a photo (the quest proof's column): a longer URL is not kept.
MAX_PHOTO_REFERENCE = 512
# VK's size letters from small to large, for sizes that report no dimensions (old photos);
# "base" is `orig_photo`, the original upload.
SIZE_ORDER = {kind: rank for rank, kind in enumerate("smopqrxyzw")} | {"base": 10}
# Size keys of API versions before 5.77.
LEGACY_SIZES = (75, 130, 604, 807, 1280, 2560)
ACCESS_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def payload_of(raw: Any) -> dict[str, Any]:
    """A button payload: a JSON string in message_new, an object in message_event."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def photo_of(message: dict[str, Any]) -> str | None:
    """The first photo attached to a message, as staff can open it: its largest size's URL, or
    when it has none that can be kept, the attachment reference ("vk:photo<owner>_<id>_<key>",
    which the community can fetch and send again). Shapes VK does not document are ignored."""
    attachments = message.get("attachments")
    if not isinstance(attachments, list):
        return None
    for attachment in attachments[:MAX_ATTACHMENTS]:
        if not isinstance(attachment, dict) or attachment.get("type") != "photo":
            continue
        photo = attachment.get("photo")
        if not isinstance(photo, dict):
            continue
        found = _largest_url(photo) or _photo_reference(photo)
        if found is not None:
            return found
    return None


def _largest_url(photo: dict[str, Any]) -> str | None:
    sizes = photo.get("sizes")
    candidates = list(sizes[:MAX_SIZES]) if isinstance(sizes, list) else []
    original = photo.get("orig_photo")
    if isinstance(original, dict):
        candidates.append({**original, "type": "base"})
    candidates += [
        {"url": photo.get(f"photo_{side}"), "width": side, "height": side}
        for side in LEGACY_SIZES
        if f"photo_{side}" in photo
    ]
    best: tuple[int, int] | None = None
    url = None
    for size in candidates:
        if not isinstance(size, dict) or not _keepable_url(size.get("url")):
            continue
        width, height = as_int(size.get("width")) or 0, as_int(size.get("height")) or 0
        rank = (max(width, 0) * max(height, 0), SIZE_ORDER.get(str(size.get("type")), -1))
        if best is None or rank > best:
            best, url = rank, size["url"]
    return url


def _keepable_url(url: Any) -> bool:
    # Shown to staff in a terminal: printable ASCII only, no spaces or escape sequences.
    return (
        isinstance(url, str)
        and url.startswith("https://")
        and len(url) <= MAX_PHOTO_REFERENCE
        and url.isascii()
        and url.isprintable()
        and " " not in url
    )


def _photo_reference(photo: dict[str, Any]) -> str | None:
    owner, photo_id, key = photo.get("owner_id"), photo.get("id"), photo.get("access_key")
    if not (_is_id(owner) and owner != 0 and _is_id(photo_id) and photo_id > 0):
        return None
    reference = f"vk:photo{owner}_{photo_id}"
    if isinstance(key, str) and ACCESS_KEY.fullmatch(key):
        reference += f"_{key}"
    return reference if len(reference) <= MAX_PHOTO_REFERENCE else None


def _is_id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
