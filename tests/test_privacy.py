"""The member's control over their data: a copy of everything, and being forgotten."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime import Runtime
from core.db.models import Identity, LedgerEntry, Member, RetiredIdentity
from core.members.accounts import IdentityKey, Registration
from core.members.privacy import MessengersSection, Privacy, ProfileSection
from core.offers.campaigns import CampaignSpec
from core.shared.errors import MemberNotFound
from handlers.messages import Incoming, Reply
from tests.data import count, enrol, registration, scalar
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.telegram_member import TelegramMember, text_of, webhook_client, webhook_delivery


async def press(runtime: Runtime, channel: str, user_id: str, action: str) -> Reply:
    (reply,) = await runtime.conversation.handle(Incoming(channel, user_id, action=action))
    return reply


async def test_my_data_arrives_as_a_file_in_telegram(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    async with webhook_client(telegram_runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=3001)
        await ann.sign_up()
        member = await telegram_runtime.program.members.find(IdentityKey("telegram", "3001"))
        assert member is not None
        await telegram_runtime.program.purchases.credit(
            member.card_code, "990", purchase_id="R-9", actor="till"
        )
        await telegram_runtime.program.coupons.create_campaign(
            CampaignSpec(slug="hello", name="Hello gift", kind="fixed", value="50"), actor="t"
        )
        coupon = await telegram_runtime.program.coupons.issue("hello", member.id)
        info = await ann.send("🔒 My data")
        assert "What we store" in text_of(info)
        sent = await ann.press("privacy:export")

    assert sent.method == "sendDocument"
    assert text_of(sent) == "Here is everything we store about you."
    data: dict[str, Any] = json.loads(sent.files["document"])
    assert data["profile"]["card_code"] == member.card_code
    assert data["profile"]["name"] == "Ann" and data["profile"]["balance"] == 199
    assert data["messengers"][0]["channel"] == "telegram"
    assert data["messengers"][0]["id"] == "3001"
    assert [entry["points"] for entry in data["points"]] == [100, 99]
    assert data["purchases"] == [
        {
            "purchase_id": "R-9",
            "amount": "990.00",
            "points": 99,
            "at": data["purchases"][0]["at"],
            "store": None,
        }
    ]
    assert {consent["kind"] for consent in data["consents"]} == {"terms", "marketing"}
    assert [(c["code"], c["campaign"], c["uses"]) for c in data["coupons"]] == [
        (coupon.code, "Hello gift", 0)
    ]
    assert data["tier"] == {"current": None, "since": None, "changes": []}
    assert {message["kind"] for message in data["messages_sent"]} == {
        "points_earned",
        "coupon_received",
    }


async def test_deleting_the_account_erases_personal_data_on_every_channel(
    runtime: Runtime,
) -> None:
    member = (
        await runtime.program.members.enrol(
            Registration(
                identity=IdentityKey("telegram", "4001"),
                language="en",
                accepted_terms=True,
                marketing_opt_in=True,
                name="Ann Example",
                phone="+79990004001",
                phone_verified=True,
            )
        )
    ).member
    code = (await runtime.program.linking.issue(member.id)).display
    await runtime.conversation.handle(Incoming("vk", "5001", text=code))
    await runtime.program.purchases.credit(member.card_code, "500", purchase_id="P", actor="t")

    confirm = await press(runtime, "telegram", "4001", "privacy:erase")
    assert "150 points will stop working" in confirm.text
    assert confirm.actions == ["privacy:erase:confirmed", "menu"]
    kept = await press(runtime, "telegram", "4001", "menu")
    assert "Choose what you need" in kept.text
    assert await runtime.program.members.find(IdentityKey("telegram", "4001")) is not None

    done = await press(runtime, "telegram", "4001", "privacy:erase:confirmed")

    assert done.text.startswith("Your account is deleted")
    assert done.remove_menu
    row = await scalar(runtime, select(Member).where(Member.id == member.id))
    assert (row.name, row.phone, row.birthday, row.marketing_opt_in) == (None, None, None, False)
    assert row.erased_at is not None
    assert await count(runtime, Identity) == 0, "erased on every channel"
    assert await runtime.program.members.find(IdentityKey("vk", "5001")) is None
    assert await count(runtime, LedgerEntry) == 2, "the shop's books still add up"
    assert (await runtime.program.ledger.audit(member.id)).consistent
    reasons = {row.reason for row in (await _all(runtime, RetiredIdentity))}
    assert reasons == {"deleted"} and await count(runtime, RetiredIdentity) == 2
    with pytest.raises(MemberNotFound):
        await runtime.program.purchases.credit(member.card_code, "10", purchase_id="Q", actor="t")

    # The same person may join again, as a new member with no second welcome gift.
    again = await runtime.program.members.enrol(registration("4001"))
    assert again.created and again.welcome_bonus == 0


async def test_a_member_who_never_asked_is_untouched(runtime: Runtime) -> None:
    await enrol(runtime, "4002")
    other = await enrol(runtime, "4003")
    await press(runtime, "telegram", "4002", "privacy:erase:confirmed")
    assert await runtime.program.members.find(IdentityKey("telegram", "4003")) == other


async def _all(runtime: Runtime, model: Any) -> list[Any]:
    async with runtime.db.reading() as session:
        return list(await session.scalars(select(model)))


# ---------------------------------------------------------------------- composed from sections
async def test_the_export_has_every_contexts_section_in_a_fixed_order(runtime: Runtime) -> None:
    member = await enrol(runtime, "4101")

    data = await runtime.program.privacy.export(member.id)

    assert list(data) == [
        "profile",
        "messengers",
        "consents",
        "points",
        "purchases",
        "tier",
        "coupons",
        "events",
        "messages_sent",
        "quests",
        "contests",
        "games",
        "tags",
        "feedback",
        "broadcasts",
    ]


class Notes:
    """A context of the test's own: what it keeps is exported, and forgotten on erasure."""

    name = "notes"

    def __init__(self, *, fail: bool = False) -> None:
        self.kept: dict[int, str] = {}
        self.fail = fail

    async def export_in(self, session: AsyncSession, member_id: int) -> Any:
        return self.kept.get(member_id)

    async def erase_in(self, session: AsyncSession, member_id: int) -> None:
        if self.fail:
            raise RuntimeError("notes are unavailable")
        self.kept.pop(member_id)


async def test_a_context_contributes_its_section_to_export_and_erasure(runtime: Runtime) -> None:
    program = runtime.program
    member = await enrol(runtime, "4102")
    notes = Notes()
    notes.kept[member.id] = "likes tea"
    privacy = Privacy(runtime.db, program.members, [ProfileSection(program.clock), notes])

    data = await privacy.export(member.id)
    assert list(data) == ["profile", "notes"] and data["notes"] == "likes tea"

    await privacy.erase(member.id)
    assert notes.kept == {}
    row = await scalar(runtime, select(Member).where(Member.id == member.id))
    assert row.erased_at is not None and row.card_code != member.card_code


async def test_an_erasure_is_one_transaction_across_the_sections(runtime: Runtime) -> None:
    program = runtime.program
    member = await enrol(runtime, "4103")
    privacy = Privacy(
        runtime.db,
        program.members,
        [ProfileSection(program.clock), MessengersSection(program.members), Notes(fail=True)],
    )

    with pytest.raises(RuntimeError, match="notes are unavailable"):
        await privacy.erase(member.id)

    row = await scalar(runtime, select(Member).where(Member.id == member.id))
    assert row.erased_at is None and row.card_code == member.card_code
    assert await program.members.find(IdentityKey("telegram", "4103")) == member
    assert await count(runtime, RetiredIdentity) == 0


async def test_unknown_members_have_nothing_to_export_or_erase(runtime: Runtime) -> None:
    with pytest.raises(MemberNotFound):
        await runtime.program.privacy.export(999_999)
    with pytest.raises(MemberNotFound):
        await runtime.program.privacy.erase(999_999)


def test_two_sections_cannot_share_a_key(runtime: Runtime) -> None:
    with pytest.raises(ValueError, match="share a name"):
        Privacy(runtime.db, runtime.program.members, [Notes(), Notes()])
