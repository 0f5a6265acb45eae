"""Secrets this installation draws for itself once and keeps in its database (installation_secrets):
the same in every process, and known to nobody who holds only a platform's credentials."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from core.db.database import Database
from core.db.models import InstallationSecret


async def installation_secret(db: Database, name: str) -> bytes:
    """The secret called `name` (32 random bytes), read, or drawn and stored the first time.
    Call it outside a transaction: drawing it takes a write of its own."""
    async with db.reading() as session:
        row = await session.get(InstallationSecret, name)
        value = row.value if row is not None else None
    if value is None:
        try:
            async with db.transaction() as session:
                value = secrets.token_hex(32)
                session.add(InstallationSecret(name=name, value=value))
        except IntegrityError:
            # Another process drew it first: use theirs.
            async with db.reading() as session:
                row = await session.get(InstallationSecret, name)
                assert row is not None
                value = row.value
    return bytes.fromhex(value)
