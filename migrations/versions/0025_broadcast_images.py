"""broadcast images: the image a broadcast sends is stored with it at broadcast-create (its
bytes, type and digest), not named by a path that every worker would have to find on its own
disk; a broadcast that cannot be sent (an old one whose image path is unreadable) is "failed"
with the reason. A broadcast not finished yet whose image path is readable where the upgrade
runs (as broadcast-create read it: relative to the current folder), and is a PNG or JPEG of
at most 5 MB, gets it stored now; the others keep their path and fail when sent

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-02
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op


revision: str = "0025"
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast_images",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "broadcast_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_images_broadcast_id_broadcasts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_images")),
        sa.UniqueConstraint("broadcast_id", "digest", name="broadcast_image_digest"),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sa.String(length=256), nullable=True))
    _store_readable_images()


# As core.broadcasts.images had them when this was written (a migration keeps its own copy).
_MAX_BYTES = 5 * 1024 * 1024
_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
_UNFINISHED = ("draft", "scheduled", "sending", "paused")


def _readable(name: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of an image file every channel takes, or None."""
    try:
        path = Path(name)
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return None
        content = path.read_bytes()
    except (OSError, ValueError):
        return None
    for signature, content_type in _TYPES:
        if len(content) <= _MAX_BYTES and content.startswith(signature):
            return content_type, content
    return None


def _store_readable_images() -> None:
    bind = op.get_bind()
    broadcasts = sa.table(
        "broadcasts", sa.column("id"), sa.column("spec", sa.Text), sa.column("state")
    )
    images = sa.table(
        "broadcast_images",
        sa.column("broadcast_id"),
        sa.column("digest"),
        sa.column("content_type"),
        sa.column("filename"),
        sa.column("content", sa.LargeBinary),
    )
    rows = bind.execute(
        sa.select(broadcasts.c.id, broadcasts.c.spec).where(
            broadcasts.c.state.in_(_UNFINISHED), broadcasts.c.spec.contains('"image"')
        )
    ).all()
    for broadcast_id, text in rows:
        try:
            spec: Any = json.loads(text)
        except ValueError:
            continue
        if not isinstance(spec, dict):
            continue
        places = [spec, *(spec.get("variants") or [])]
        places = [place for place in places if isinstance(place, dict)]
        names = {place["image"] for place in places if isinstance(place.get("image"), str)}
        found = {name: _readable(name) for name in names if not name.startswith("sha256:")}
        readable = {name: image for name, image in found.items() if image is not None}
        if not found or len(readable) != len(found):
            continue  # all or nothing: it fails when sent, saying which is missing
        stored: set[str] = set()
        for name, (content_type, content) in readable.items():
            digest = hashlib.sha256(content).hexdigest()
            for place in places:
                if place.get("image") == name:
                    place["image"] = f"sha256:{digest}"
            if digest in stored:
                continue
            stored.add(digest)
            bind.execute(
                images.insert().values(
                    broadcast_id=broadcast_id,
                    digest=digest,
                    content_type=content_type,
                    filename=name.replace("\\", "/").rsplit("/", 1)[-1][-128:] or "image",
                    content=content,
                )
            )
        bind.execute(
            broadcasts.update()
            .where(broadcasts.c.id == broadcast_id)
            .values(spec=json.dumps(spec, ensure_ascii=False, separators=(",", ":")))
        )


def downgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_column("failure")
    op.drop_table("broadcast_images")
