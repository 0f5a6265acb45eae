"""Ids and names a shop or an operator gives are refused with a control character in them (a
NUL cannot be stored in PostgreSQL text), on both backends, before anything is written."""

from __future__ import annotations

import pytest

from app.runtime import Runtime
from core.db.models import LedgerEntry, Purchase
from core.offers.campaigns import CampaignSpec
from core.offers.rewards import RewardSpec
from core.shared.errors import InvalidCampaign, InvalidReference
from core.shared.parsing import parse_reference
from tests.data import count, enrol

CONTROLLED = ("P\x00-1", "P-\x001", "P\n1", "P\x1b[31m", "P\x7f", "P\u0085-1")


@pytest.mark.parametrize("raw", CONTROLLED)
def test_an_id_with_a_control_character_is_refused(raw: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference("purchase id", raw)


def test_an_id_is_kept_as_given_but_for_the_spaces_around_it() -> None:
    assert parse_reference("purchase id", "  R-1 / ß ") == "R-1 / ß"


async def test_ids_with_a_nul_are_refused_everywhere(runtime: Runtime) -> None:
    program = runtime.program
    member = await enrol(runtime)
    await program.purchases.credit(member.card_code, "100", purchase_id="P-1", actor="till")
    entries = await count(runtime, LedgerEntry)

    with pytest.raises(InvalidReference):
        await program.purchases.credit(member.card_code, "10", purchase_id="P-\x002", actor="till")
    with pytest.raises(InvalidReference):
        await program.purchases.refund("P-1", refund_id="R\x00", actor="till")
    with pytest.raises(InvalidReference):
        await program.purchases.redeem(member.card_code, 1, redemption_id="T\x00", actor="till")
    with pytest.raises(InvalidReference):
        await program.coupons.redeem("NO-SUCH-CODE", redemption_id="C\x00", actor="till")

    with pytest.raises(InvalidReference):
        await program.events.emit(
            kind="review", event_id="E\x00", actor="shop", card_code=member.card_code
        )

    await program.rewards.add(RewardSpec(slug="mug", name="Mug", cost=1), actor="op")
    with pytest.raises(InvalidReference):
        await program.rewards.claim(member.id, "mug", claim_id="K\x00", actor="op")

    assert await count(runtime, Purchase) == 1
    assert await count(runtime, LedgerEntry) == entries


async def test_names_and_items_with_a_nul_are_refused(runtime: Runtime) -> None:
    coupons, rewards = runtime.program.coupons, runtime.program.rewards
    with pytest.raises(InvalidCampaign):
        await coupons.create_campaign(
            CampaignSpec(slug="spring", name="Spring\x00", kind="percent", value="10"), actor="op"
        )
    with pytest.raises(InvalidCampaign):
        await coupons.create_campaign(
            CampaignSpec(slug="free", name="Free", kind="free_item", item="Tea\x00"), actor="op"
        )
    with pytest.raises(InvalidCampaign):
        await rewards.add(RewardSpec(slug="cup", name="Cup\x00", cost=1), actor="op")
    # What is refused is nothing but the control character.
    await coupons.create_campaign(
        CampaignSpec(slug="free", name="Free", kind="free_item", item="Tea"), actor="op"
    )
    await rewards.add(RewardSpec(slug="cup", name="Cup", cost=1), actor="op")
