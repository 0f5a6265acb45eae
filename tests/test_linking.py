"""One member across messengers: link codes, attaching an account, merging two members."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import func, select, update

from app.runtime import Runtime
from core.db.models import (
    Identity,
    LedgerEntry,
    LinkAttempt,
    LinkCode,
    Member,
    Merge,
    Notice,
    RetiredIdentity,
)
from core.members.accounts import IdentityKey, LastIdentity
from core.members.linking import MAX_WRONG_CODES, LinkRefused
from core.notices.outbox import NoticeKind
from core.offers.rewards import RewardSpec
from core.shared.errors import IdempotencyConflict
from handlers.messages import Incoming, Reply
from tests.data import count, enrol, registration, scalar


async def say(runtime: Runtime, channel: str, user_id: str, text: str) -> str:
    replies = await runtime.conversation.handle(Incoming(channel, user_id, text=text))
    assert len(replies) == 1
    return replies[0].text


async def press(runtime: Runtime, channel: str, user_id: str, action: str) -> Reply:
    replies = await runtime.conversation.handle(Incoming(channel, user_id, action=action))
    assert len(replies) == 1
    return replies[0]


async def ask_for_code(runtime: Runtime, channel: str, user_id: str) -> str:
    screen = await press(runtime, channel, user_id, "menu:link")
    assert "link:code" in screen.actions
    text = (await press(runtime, channel, user_id, "link:code")).text
    match = re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}", text)
    assert match, text
    assert "Within 10 minutes" in text
    return match.group(0)


async def total_points(runtime: Runtime) -> int:
    return int(await scalar(runtime, select(func.coalesce(func.sum(LedgerEntry.points), 0))))


async def test_a_new_messenger_account_is_attached_with_no_second_bonus(runtime: Runtime) -> None:
    ann = await enrol(runtime, "ann")
    code = await ask_for_code(runtime, "telegram", "ann")

    reply = await say(runtime, "console", "ann-laptop", code.lower())

    assert reply.startswith("Done! This messenger is now linked to your card")
    assert "You have 100 points." in reply
    found = await runtime.program.members.find(IdentityKey("console", "ann-laptop"))
    assert found is not None and found.id == ann.id
    assert await count(runtime, Member) == 1
    assert await count(runtime, LedgerEntry) == 1, "no second welcome bonus"
    balance = await say(runtime, "console", "ann-laptop", "balance")
    assert balance.startswith("You have 100 points.")


async def test_two_members_with_balances_merge_into_the_older_one(runtime: Runtime) -> None:
    older = await enrol(runtime, "older")
    newer = (await runtime.program.members.enrol(registration("newer", channel="vk"))).member
    await runtime.program.purchases.credit(older.card_code, "500", purchase_id="A", actor="t")
    await runtime.program.purchases.credit(newer.card_code, "300", purchase_id="B", actor="t")
    before = await total_points(runtime)

    # The newer member asks for the code; the older one's account redeems it.
    code = await ask_for_code(runtime, "vk", "newer")
    reply = await say(runtime, "telegram", "older", code)

    assert "Your two accounts are now one card" in reply
    assert "130 points moved over" in reply
    assert "You have 280 points." in reply
    survivor = await runtime.program.members.get(older.id)
    absorbed = await scalar(runtime, select(Member).where(Member.id == newer.id))
    assert survivor.balance == 280 and absorbed.balance == 0
    assert absorbed.merged_into_id == older.id
    for member_id in (older.id, newer.id):
        assert (await runtime.program.ledger.audit(member_id)).consistent
    assert await total_points(runtime) == before, "nothing counted twice, nothing lost"
    identities = await runtime.program.members.identities(older.id)
    assert set(identities) == {IdentityKey("telegram", "older"), IdentityKey("vk", "newer")}
    merge = await scalar(runtime, select(Merge))
    assert (merge.survivor_id, merge.absorbed_id, merge.points_moved) == (older.id, newer.id, 130)

    # The absorbed card still works at the till: the points land on the surviving member.
    credit = await runtime.program.purchases.credit(
        newer.card_code, "100", purchase_id="C", actor="till"
    )
    assert credit.member_id == older.id and credit.balance == 290
    # And the vk account now sees the merged card.
    assert (await say(runtime, "vk", "newer", "balance")).startswith("You have 290 points.")


async def test_wrong_expired_and_used_codes_get_a_clear_answer(runtime: Runtime) -> None:
    await enrol(runtime, "owner")
    code = await ask_for_code(runtime, "telegram", "owner")

    assert "not valid" in await say(runtime, "console", "guest", "ABCD-EFGH")
    assert "Done!" in await say(runtime, "console", "guest", code)
    assert "already used" in await say(runtime, "console", "other", code)

    fresh = await ask_for_code(runtime, "telegram", "owner")
    async with runtime.db.transaction() as session:
        await session.execute(
            update(LinkCode)
            .where(LinkCode.code == fresh.replace("-", ""))
            .values(expires_at=runtime.program.clock.now())
        )
    assert "expired" in await say(runtime, "console", "late", fresh)
    assert await runtime.program.members.find(IdentityKey("console", "late")) is None


async def test_guessing_is_stopped_after_a_few_wrong_codes(runtime: Runtime) -> None:
    await enrol(runtime, "victim")
    code = await ask_for_code(runtime, "telegram", "victim")
    for guess in range(MAX_WRONG_CODES):
        assert "not valid" in await say(runtime, "console", "thief", f"ZZZZ-ZZ{guess + 2}Z")

    refused = await say(runtime, "console", "thief", code)

    assert "Too many wrong codes" in refused
    assert await runtime.program.members.find(IdentityKey("console", "thief")) is None
    # Somebody else is not affected by the thief's attempts.
    assert "Done!" in await say(runtime, "console", "honest", code)


async def test_a_burst_of_wrong_codes_records_at_most_the_limit(runtime: Runtime) -> None:
    thief = IdentityKey("console", "burst")
    results = await asyncio.gather(
        *(runtime.program.linking.redeem(thief, f"ZZZZ-ZZ{n % 8 + 2}Z") for n in range(20)),
        return_exceptions=True,
    )

    assert all(isinstance(result, LinkRefused) for result in results), results
    reasons = [result.reason for result in results if isinstance(result, LinkRefused)]
    assert reasons.count("invalid") == MAX_WRONG_CODES
    assert reasons.count("too_many_attempts") == 20 - MAX_WRONG_CODES
    assert await count(runtime, LinkAttempt) == MAX_WRONG_CODES


async def test_a_new_code_replaces_the_previous_one(runtime: Runtime) -> None:
    await enrol(runtime, "ann")
    first = await ask_for_code(runtime, "telegram", "ann")
    second = await ask_for_code(runtime, "telegram", "ann")
    assert "already used" in await say(runtime, "console", "x", first)
    assert "Done!" in await say(runtime, "console", "x", second)


async def test_redeeming_ones_own_code_changes_nothing(runtime: Runtime) -> None:
    await enrol(runtime, "ann")
    code = await ask_for_code(runtime, "telegram", "ann")
    assert "already linked" in await say(runtime, "telegram", "ann", code)
    assert await count(runtime, Member) == 1


async def test_one_code_redeemed_concurrently_links_exactly_one_account(runtime: Runtime) -> None:
    ann = await enrol(runtime, "ann")
    issued = await runtime.program.linking.issue(ann.id)
    results = await asyncio.gather(
        *(
            runtime.program.linking.redeem(IdentityKey("console", f"device-{n}"), issued.display)
            for n in range(8)
        ),
        return_exceptions=True,
    )
    linked = [result for result in results if not isinstance(result, BaseException)]
    refused = [result for result in results if isinstance(result, LinkRefused)]
    assert len(linked) == 1 and len(refused) == 7
    assert {refusal.reason for refusal in refused} == {"used"}
    assert await count(runtime, Identity) == 2


async def test_messengers_are_listed_and_can_be_unlinked_but_not_the_last(
    runtime: Runtime,
) -> None:
    ann = await enrol(runtime, "10001234")
    code = await ask_for_code(runtime, "telegram", "10001234")
    await say(runtime, "vk", "20005678", code)

    screen = await say(runtime, "telegram", "10001234", "/link")
    assert "• Telegram …1234" in screen and "• VK …5678" in screen
    listing = await press(runtime, "telegram", "10001234", "menu:link")
    assert listing.actions == ["link:code", "unlink:vk:20005678"], "never the current chat"

    unlinked = await press(runtime, "telegram", "10001234", "unlink:vk:20005678")
    assert unlinked.text.startswith("VK …5678 is no longer linked to your card.")
    assert await runtime.program.members.identities(ann.id) == [IdentityKey("telegram", "10001234")]
    again = await press(runtime, "telegram", "10001234", "unlink:vk:20005678")
    assert again.text.startswith("That messenger is not linked to your card any more.")
    # From the last one left, there is nothing else to unlink, and the core refuses anyway.
    assert (await press(runtime, "telegram", "10001234", "menu:link")).actions == ["link:code"]
    with pytest.raises(LastIdentity):
        await runtime.program.members.unlink(ann.id, IdentityKey("telegram", "10001234"))


async def test_an_unlinked_account_can_join_again_but_gets_no_second_welcome_bonus(
    runtime: Runtime,
) -> None:
    ann = await enrol(runtime, "ann")
    code = await ask_for_code(runtime, "telegram", "ann")
    await say(runtime, "console", "ann-laptop", code)
    await runtime.program.members.unlink(ann.id, IdentityKey("console", "ann-laptop"))

    again = await runtime.program.members.enrol(registration("ann-laptop", channel="console"))

    assert again.created and again.welcome_bonus == 0
    assert again.member.balance == 0
    stored = await scalar(runtime, select(RetiredIdentity))
    assert stored.reason == "unlinked"
    assert "ann-laptop" not in stored.identity_hash and len(stored.identity_hash) == 64
    # Somebody who never had a card still gets the gift.
    assert (await runtime.program.members.enrol(registration("new"))).welcome_bonus == 100


async def test_a_purchase_replayed_after_its_member_was_merged_is_a_replay(
    runtime: Runtime,
) -> None:
    older = await enrol(runtime, "older")
    newer = (await runtime.program.members.enrol(registration("newer", channel="vk"))).member
    first = await runtime.program.purchases.credit(
        newer.card_code, "300", purchase_id="TILL-7", actor="till"
    )
    code = await ask_for_code(runtime, "vk", "newer")
    await say(runtime, "telegram", "older", code)

    again = await runtime.program.purchases.credit(
        newer.card_code, "300", purchase_id="TILL-7", actor="till"
    )

    assert again.replayed and again.points == first.points
    assert again.member_id == older.id and again.balance == 230
    assert await count(runtime, LedgerEntry) == 5, "welcome ×2, purchase, merge out and in"


async def test_a_ledger_key_replayed_after_its_member_was_merged_is_a_replay(
    runtime: Runtime,
) -> None:
    ledger = runtime.program.ledger
    older = await enrol(runtime, "older")
    newer = (await runtime.program.members.enrol(registration("newer", channel="vk"))).member
    bob = await enrol(runtime, "bob")
    first = await ledger.post(
        newer.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1", reference="g"
    )
    code = await ask_for_code(runtime, "vk", "newer")
    await say(runtime, "telegram", "older", code)
    entries_after_merge = await count(runtime, LedgerEntry)

    # Asked for the surviving member, or for the card merged into it: the first entry.
    for member_id in (older.id, newer.id):
        again = await ledger.post(
            member_id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1"
        )
        assert again.replayed and again.entry == first.entry
    survivor = await ledger.post(
        older.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1", reference="g"
    )
    assert survivor.balance == 240, "the survivor's balance now: 100 + 100 + 40"
    # Somebody else is not the same member, merge or not.
    with pytest.raises(IdempotencyConflict):
        await ledger.post(bob.id, 40, reason="bonus", actor="marketer", idempotency_key="gift-1")
    assert await count(runtime, LedgerEntry) == entries_after_merge
    assert await ledger.balance(bob.id) == 100


async def test_a_redemption_replayed_after_its_member_was_merged_is_a_replay(
    runtime: Runtime,
) -> None:
    purchases = runtime.program.purchases
    older = await enrol(runtime, "older")
    newer = (await runtime.program.members.enrol(registration("newer", channel="vk"))).member
    first = await purchases.redeem(newer.card_code, 60, redemption_id="T-1", actor="till")
    code = await ask_for_code(runtime, "vk", "newer")
    await say(runtime, "telegram", "older", code)
    entries_after_merge = await count(runtime, LedgerEntry)

    # The till sends it again (a lost answer) with the card it had.
    again = await purchases.redeem(newer.card_code, 60, redemption_id="T-1", actor="till")

    assert (first.replayed, again.replayed) == (False, True)
    assert (again.member_id, again.points, again.balance) == (older.id, 60, 140)
    assert await count(runtime, LedgerEntry) == entries_after_merge
    assert await count(runtime, Notice, Notice.kind == NoticeKind.POINTS_SPENT) == 1
    with pytest.raises(IdempotencyConflict):
        await purchases.redeem(newer.card_code, 61, redemption_id="T-1", actor="till")


async def test_a_reward_claim_replayed_after_its_member_was_merged_is_a_replay(
    runtime: Runtime,
) -> None:
    """The chat's answer to a claim was lost and the claim comes again after the member linked
    their VK card into their Telegram one: the same coupon, no second spending."""
    rewards = runtime.program.rewards
    await rewards.add(RewardSpec(slug="mug", name="Mug", cost=50), actor="t")
    older = await enrol(runtime, "older")
    newer = (await runtime.program.members.enrol(registration("newer", channel="vk"))).member
    first = await rewards.claim(newer.id, "mug", claim_id="C-1", actor="member")
    code = await ask_for_code(runtime, "vk", "newer")
    await say(runtime, "telegram", "older", code)
    entries_after_merge = await count(runtime, LedgerEntry)

    for member_id in (older.id, newer.id):
        again = await rewards.claim(member_id, "mug", claim_id="C-1", actor="member")
        assert again.replayed and again.coupon.code == first.coupon.code
    assert await count(runtime, LedgerEntry) == entries_after_merge
    stranger = await enrol(runtime, "stranger")
    with pytest.raises(IdempotencyConflict):
        await rewards.claim(stranger.id, "mug", claim_id="C-1", actor="member")
