"""A leaderboard contest in the members' chat, through the real channels: Telegram (aiogram
against the fake Bot API) and WhatsApp's numbered menus (twilio against the fake Twilio API).
Members join in one tap, see the live top 10 and their own place move with each purchase, a
tie goes to whoever reached the score first; at the close the winner is told and claims the
prize once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.runtime import Runtime
from core.db.models import LedgerEntry
from core.games.contests import draw as drawing
from core.members.accounts import IdentityKey
from tests.data import count, enrol
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_contest_chat import runtime, shifted, telegram_runtime
from tests.test_whatsapp import WhatsApp, WhatsAppMember, choices, fake_twilio, whatsapp

__all__ = ["fake_twilio", "runtime", "telegram_runtime", "whatsapp"]


async def open_leaderboard(runtime: Runtime, **overrides: Any) -> int:
    now = datetime.now(UTC)
    spec: dict[str, Any] = {
        "slug": "top-buyers",
        "kind": "leaderboard",
        "metric": "points",
        "title": {"en": "Top buyers", "ru": "Лучшие покупатели", "fa": "بهترین خریداران"},
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "winners": 1,
        "reserves": 1,
        "prize": {"points": 400},
    }
    spec.update(overrides)
    created = await runtime.program.contests.create(spec, actor="test")
    return created.id


async def close(runtime: Runtime, contest_id: int) -> dict[str, Any]:
    shifted(runtime).offset = timedelta(hours=1, minutes=1)
    assert (await runtime.program.contests.settle_due()).closed == 1
    return await runtime.program.contests.transcript(contest_id)


async def test_a_leaderboard_contest_on_telegram_join_rank_tie_close_claim(
    telegram_runtime: Runtime, fake_telegram: FakeTelegramAPI
) -> None:
    runtime = telegram_runtime
    contest_id = await open_leaderboard(runtime)
    async with webhook_client(runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=3101)
        bob = TelegramMember(fake_telegram, webhook_delivery(client), user_id=3102)
        await ann.sign_up()
        await bob.sign_up()
        ann_id = (await runtime.program.members.find(IdentityKey("telegram", "3101"))).id  # type: ignore[union-attr]
        bob_member = await runtime.program.members.find(IdentityKey("telegram", "3102"))
        assert bob_member is not None
        ann_member = await runtime.program.members.get(ann_id)
        ann_name = f"Member #{await runtime.program.boards.pseudonym(ann_id)}"
        bob_name = f"Member #{await runtime.program.boards.pseudonym(bob_member.id)}"

        listed = await ann.send("/contests")
        assert "• Top buyers: Open until " in text_of(listed)
        page = await ann.press(f"contest:{contest_id}")
        shown = text_of(page)
        assert shown.startswith("🏆 Top buyers\nOpen until ")
        assert "Prize: 400 points" in shown
        assert "ranked by points from purchases from the start to the end" in shown
        assert "Join with one tap" in shown
        assert "Nobody is on the table yet: be the first!" in shown
        assert "You have not entered yet." in shown
        assert "sha256(seed)" not in shown
        assert inline_actions(page) == [f"contest:join:{contest_id}", "menu:contests"]

        # Joining: one tap each.
        before = len(ann.received)
        await ann.press(f"contest:join:{contest_id}")
        joined = await fake_telegram.wait_for_sent(ann.user_id, before + 2)
        assert text_of(joined[-2]).startswith("You're in! What you earn from now on counts;")
        assert f"contest:join:{contest_id}" not in inline_actions(joined[-1])
        await bob.send("/contests")
        await bob.press(f"contest:{contest_id}")
        before = len(bob.received)
        await bob.press(f"contest:join:{contest_id}")
        await fake_telegram.wait_for_sent(bob.user_id, before + 2)

        # A purchase moves the rank at once.
        credit = await runtime.program.purchases.credit(
            ann_member.card_code, "100", purchase_id="TG-A1", actor="till"
        )
        await runtime.program.bus.drain()
        points = runtime.conversation.texts.points("en", credit.points)
        await ann.send("/contests")
        board = text_of(await ann.press(f"contest:{contest_id}"))
        assert f"🥇 {ann_name}: {points} ← you" in board
        assert f"Your place: 1 of 1, with {points}." in board

        # Bob reaches the same score later: the tie goes to Ann, who reached it first.
        shifted(runtime).offset = timedelta(seconds=5)
        await runtime.program.purchases.credit(
            bob_member.card_code, "100", purchase_id="TG-B1", actor="till"
        )
        await runtime.program.bus.drain()
        await bob.send("/contests")
        board = text_of(await bob.press(f"contest:{contest_id}"))
        assert board.index(ann_name) < board.index(bob_name)
        assert f"🥈 {bob_name}: {points} ← you" in board
        assert f"Your place: 2 of 2, with {points}." in board

        # Bob buys again: first, at once.
        await runtime.program.purchases.credit(
            bob_member.card_code, "50", purchase_id="TG-B2", actor="till"
        )
        await runtime.program.bus.drain()
        board = text_of(await bob.press(f"contest:{contest_id}"))
        assert "Your place: 1 of 2" in board

        transcript = await close(runtime, contest_id)
        assert drawing.verify(transcript).verified
        bob_entry = await runtime.program.contests.my_entry(contest_id, bob_member.id)
        assert bob_entry is not None
        assert transcript["result"] == {
            "winners": [bob_entry.pseudonym],
            "reserves": [transcript["standings"]["list"][1]["pseudonym"]],
        }

        before = len(bob.received)
        await runtime.dispatch_notices(10)
        won = (await fake_telegram.wait_for_sent(bob.user_id, before + 1))[-1]
        assert text_of(won).startswith("🎉 You won «Top buyers»! Claim your prize by ")
        assert inline_actions(won) == [f"contest:claim:{contest_id}"]
        claimed = await bob.press(f"contest:claim:{contest_id}")
        assert text_of(claimed) == "🎉 Your prize is yours!\n400 points added to your balance."
        again = await bob.press(f"contest:claim:{contest_id}")
        assert text_of(again).startswith("🎉 Your prize is yours!")
        assert await count(runtime, LedgerEntry, LedgerEntry.reason == "contest_prize") == 1
        # Ann is told nothing (a reserve waits), and cannot claim.
        # (a stale or forged button: the callback itself)
        refused = await ann.exchange(
            fake_telegram.callback_update(
                user_id=ann.user_id, data=f"contest:claim:{contest_id}", message_id=None
            )
        )
        assert text_of(refused) == "There is no prize of yours to claim in this contest."

        final = text_of(await ann.press(f"contest:{contest_id}"))
        assert "The contest is over; the standings are final." in final
        assert f"Final standings frozen: 2 members, sha256 {transcript['standings']['sha256']}" in (
            final
        )
        assert f"Winners: {bob_entry.pseudonym}" in final
        assert "Your place: 2 of 2" in final


async def test_a_leaderboard_contest_on_whatsapp_by_numbers(
    runtime: Runtime, fake_twilio: FakeTwilioAPI, whatsapp: WhatsApp
) -> None:
    runtime.whatsapp = whatsapp.channel
    contest_id = await open_leaderboard(runtime)
    cara = WhatsAppMember(whatsapp, "+49990009090")
    await cara.sign_up()
    rival = await enrol(runtime, "8801")
    await runtime.program.contests.join(contest_id, rival.id)

    listed = await cara.say("contests")
    assert listed.body.startswith("Contests:\n• Top buyers: Open until ")
    page = await cara.choose("Top buyers")
    assert "You have not entered yet." in page.body
    assert set(choices(page)) == {"✅ Join", "⬅️ All contests"}
    answers = await cara.send(choices(page)["✅ Join"])
    confirmation, page = answers[-2], answers[-1]
    member = await cara.profile()
    entry = await runtime.program.contests.my_entry(contest_id, member.id)
    assert entry is not None and entry.pseudonym in confirmation.body
    assert "You are not on this board yet: a purchase puts you on it." in page.body
    assert "✅ Join" not in choices(page)

    # Cara reaches 100's points first; the rival the same a little later.
    await runtime.program.purchases.credit(member.card_code, "100", purchase_id="W-1", actor="t")
    await runtime.program.bus.drain()
    shifted(runtime).offset = timedelta(seconds=3)
    await runtime.program.purchases.credit(rival.card_code, "100", purchase_id="W-2", actor="t")
    await runtime.program.bus.drain()
    listed = await cara.say("contests")
    page = await cara.choose("Top buyers")
    assert "Your place: 1 of 2" in page.body
    assert "← you" in page.body.splitlines()[page.body.splitlines().index("") + 1]

    transcript = await close(runtime, contest_id)
    assert transcript["result"]["winners"] == [entry.pseudonym]
    assert (
        transcript["standings"]["list"][0]["score"] == transcript["standings"]["list"][1]["score"]
    )
    before = len(cara.received)
    await runtime.dispatch_notices(10)
    won = cara.received[before:][-1]
    assert won.body.startswith("🎉 You won «Top buyers»! Claim your prize by ")
    claimed = await cara.choose("Claim the prize")
    assert claimed.body.startswith("🎉 Your prize is yours!\n400 points added to your balance.")
    again = await cara.say(choices(won)["🎁 Claim the prize"])
    assert again.body.startswith("🎉 Your prize is yours!")
    assert await count(runtime, LedgerEntry, LedgerEntry.reason == "contest_prize") == 1
