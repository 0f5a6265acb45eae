"""What a member sees when the infrastructure misbehaves: the real answer once the service is
back (the platform delivers again what was answered 503), never silence, and the service back
on its feet right after."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.runtime import Runtime
from core.db.database import Database
from core.db.failures import is_infrastructure_failure
from handlers.messages import Incoming
from tests.conftest import Backend
from tests.data import enrol


@pytest.mark.parametrize("backend", ["services"], indirect=True)
async def test_after_postgresql_drops_its_connections_one_apology_then_service(
    backend: Backend, runtime: Runtime
) -> None:
    member = await enrol(runtime, "resilient")
    balance = Incoming("telegram", "resilient", text="balance")
    assert (await runtime.conversation.handle(balance))[0].text.startswith("You have 100")

    admin = Database.from_url(backend.database_url)
    try:
        async with admin.engine.connect() as connection:
            dropped = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await admin.close()
    assert dropped >= 1

    # The first turn may meet a dead connection: an infrastructure failure, raised for the
    # channel to answer 503 (the platform delivers the update again), not an apology.
    try:
        first = (await runtime.conversation.handle(balance))[0].text
    except Exception as error:
        assert is_infrastructure_failure(error), error
        first = "You have 100 (the platform's retry)"
    answers = [first] + [(await runtime.conversation.handle(balance))[0].text for _ in range(2)]
    assert answers[0].startswith(("You have 100", "Something went wrong on our side"))
    assert answers[1].startswith("You have 100")
    assert answers[2].startswith("You have 100")
    audit = await runtime.program.ledger.audit(member.id)
    assert audit.consistent and audit.cached_balance == 100
