"""Who a log line is about, without saying who: a member's channel identity (a Telegram or VK
user id, a WhatsApp phone number) appears in logs only as a short keyed hash.

The same identity gives the same hash within a process, so an operator can follow one member
through the log; without the key nobody can tell the phone number or user id behind it (a phone
number has too few digits for an unkeyed hash to hide it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_key = secrets.token_bytes(32)


def use_key(key: bytes) -> None:
    """Hash with this key from now on (the installation's own, so every process hashes alike)."""
    global _key
    _key = key


def who(channel: str, user_id: object) -> str:
    """`telegram#3f9a1c0b7e`: the channel and a keyed hash of the identity on it."""
    identity = f"{channel}:{user_id}".encode()
    return f"{channel}#{hmac.new(_key, identity, hashlib.sha256).hexdigest()[:10]}"
