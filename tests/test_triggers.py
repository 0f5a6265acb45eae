"""Triggered broadcasts and feedback, end to end: standing rules fired by the hourly job
(win-back) or by purchases (first purchase, points short of a tier, the feedback question),
sent by the engine through the fake Telegram and Twilio servers; the 0-10 question answered
with a button and by number, a comment, the reward paid once, and the NPS report."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from app import broadcasts as wiring
from core.broadcasts.engine import variant_for
from core.broadcasts.errors import TriggerCannotFire
from core.broadcasts.spec import HOLDOUT, BroadcastSpec, parse_spec
from core.db.models import (
    Broadcast,
    CouponCampaign,
    FeedbackRequest,
    LedgerEntry,
    Member,
    Reward,
    TriggerFiring,
)
from core.earning.events import PurchaseRecorded
from core.feedback.service import StoreScore
from core.games.quests.definition import parse_definition
from core.members.accounts import IdentityKey
from tests import test_broadcasts, test_vk, whatsapp_member
from tests.data import count
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.fakes.twilio_api import FakeTwilioAPI
from tests.telegram_member import (
    TelegramMember,
    inline_actions,
    text_of,
    webhook_client,
    webhook_delivery,
)
from tests.test_broadcasts import PLAIN, Shop, add_members, telegram_ids
from tests.test_console import run_cli
from tests.test_whatsapp import WhatsAppMember, choices
from tests.whatsapp_member import serve_whatsapp

# The broadcasts' shop (a runtime on the fake Telegram, VK and Twilio servers) and its fakes.
shop = test_broadcasts.shop
fake_vk = test_vk.fake_vk
fake_twilio = whatsapp_member.fake_twilio

TIERS: list[dict[str, Any]] = [
    {"key": "silver", "name": {"en": "Silver"}, "threshold": 1000},
]


async def standing(shop: Shop, trigger: dict[str, Any], **overrides: Any) -> int:
    values: dict[str, Any] = {
        **PLAIN,
        "name": f"rule {trigger['kind']}",
        "segment": {},
        "text": "Hello {name}",
        "trigger": trigger,
    }
    values.update(overrides)
    broadcasts = wiring.broadcasts(shop.runtime.program)
    created = await broadcasts.create(parse_spec(values), actor="test")
    await broadcasts.start(created.id)
    return created.id


async def members(
    shop: Shop, external_ids: list[str], channel: str = "telegram", language: str = "en"
) -> list[int]:
    """Members as sign-up leaves them, active now (a purchase reads that)."""
    ids = await add_members(shop, channel, external_ids, language=language)
    async with shop.runtime.db.transaction() as session:
        await session.execute(
            update(Member).where(Member.id.in_(ids)).values(last_active_at=shop.clock.now())
        )
    return ids


async def card_of(shop: Shop, member_id: int) -> str:
    async with shop.runtime.db.reading() as session:
        code = await session.scalar(select(Member.card_code).where(Member.id == member_id))
    assert code is not None
    return code


async def buy(shop: Shop, member_id: int, amount: str, purchase_id: str, **extra: Any) -> None:
    await shop.runtime.program.purchases.credit(
        await card_of(shop, member_id), amount, purchase_id=purchase_id, actor="till", **extra
    )
    # The till hands the purchase's events off: wait for the triggers to hear it.
    await shop.runtime.program.bus.drain()


# ---------------------------------------------------------------------- win-back
async def test_win_back_fires_once_per_period_for_a_lapsed_member_only(shop: Shop) -> None:
    lapsed, active, _never, refused = await members(shop, telegram_ids(6100, 4))
    async with shop.runtime.db.transaction() as session:
        (await session.get(Member, refused)).marketing_opt_in = False  # type: ignore[union-attr]
    for member in (lapsed, active, refused):
        await buy(shop, member, "100", f"old-{member}")
    shop.clock.offset += timedelta(days=61)
    await buy(shop, active, "100", f"new-{active}")
    broadcast_id = await standing(
        shop, {"kind": "win_back", "days": 60, "period_days": 90}, text="We miss you, {name}"
    )
    triggers = shop.runtime.program.triggers

    # Two workers run the job at once: one fires, the other finds it done.
    assert sorted(await asyncio.gather(triggers.fire_due(), triggers.fire_due())) == [0, 1]
    await shop.engine.run(broadcast_id)
    (message,) = shop.telegram.sent_to(6100)
    assert text_of(message) == "We miss you, M6100"
    for silent in (6101, 6102, 6103):
        assert shop.telegram.sent_to(silent) == []
    # A standing rule stays on after everyone due was sent to.
    assert await shop.engine.broadcasts.state(broadcast_id) == "sending"

    # The job run again, or the next day, in the same period: nothing more.
    assert await triggers.fire_due() == 0
    shop.clock.offset += timedelta(days=1)
    assert await triggers.fire_due() == 0
    await shop.engine.run(broadcast_id)
    assert len(shop.telegram.sent_to(6100)) == 1

    # The next period, still lapsed: once more (the active member still buys).
    shop.clock.offset += timedelta(days=90)
    await buy(shop, active, "100", f"newer-{active}")
    assert await triggers.fire_due() == 1
    await shop.engine.run(broadcast_id)
    assert len(shop.telegram.sent_to(6100)) == 2
    assert shop.telegram.sent_to(6101) == []

    # Paused, it fires for nobody.
    await shop.engine.broadcasts.pause(broadcast_id)
    shop.clock.offset += timedelta(days=90)
    assert await triggers.fire_due() == 0


# ---------------------------------------------------------------------- purchases
async def test_a_first_purchase_fires_once_even_when_its_event_is_replayed(shop: Shop) -> None:
    (ann,) = await members(shop, telegram_ids(6200, 1))
    broadcast_id = await standing(shop, {"kind": "first_purchase"}, text="Welcome, {name}!")

    await buy(shop, ann, "100", "first")
    event = PurchaseRecorded(
        occurred_at=shop.clock.now(),
        member_id=ann,
        purchase_id="first",
        amount=100,  # type: ignore[arg-type]
        points=0,
        store=None,
    )
    async with shop.runtime.db.transaction() as session:
        await shop.runtime.program.triggers.on_purchase_recorded(session, event)
    await buy(shop, ann, "100", "second")
    await shop.engine.run(broadcast_id)

    (message,) = shop.telegram.sent_to(6200)
    assert text_of(message) == "Welcome, M6200!"
    assert await count(shop.runtime, TriggerFiring, TriggerFiring.broadcast_id == broadcast_id) == 1


async def test_a_purchase_reads_the_standing_rules_without_parsing_them_again(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, bob, carol, dave, erin = await members(shop, telegram_ids(6250, 5))
    broadcast_id = await standing(shop, {"kind": "first_purchase"}, text="Welcome, {name}!")
    parsed: list[str] = []
    parse = BroadcastSpec.model_validate_json

    def counted(raw: str | bytes) -> BroadcastSpec:
        parsed.append(str(raw))
        return parse(raw)

    monkeypatch.setattr(BroadcastSpec, "model_validate_json", counted)

    await buy(shop, ann, "100", "ann-1")
    assert len(parsed) == 1
    await buy(shop, bob, "100", "bob-1")
    assert len(parsed) == 1, "the second purchase used the parsed rule"
    monkeypatch.undo()
    await shop.engine.run(broadcast_id)
    monkeypatch.setattr(BroadcastSpec, "model_validate_json", counted)

    # The rule changed (its text): the next purchase sees the new one.
    async with shop.runtime.db.transaction() as session:
        row = await session.get(Broadcast, broadcast_id)
        assert row is not None
        row.spec = json.dumps({**json.loads(row.spec), "text": {"en": "Hello again, {name}!"}})
    await buy(shop, carol, "100", "carol-1")
    assert len(parsed) == 2
    # Paused, it fires for nobody; resumed, for the next buyer, with the rule as it is now.
    await shop.engine.broadcasts.pause(broadcast_id)
    await buy(shop, dave, "100", "dave-1")
    await shop.engine.broadcasts.resume(broadcast_id)
    await buy(shop, erin, "100", "erin-1")
    monkeypatch.undo()

    await shop.engine.run(broadcast_id)
    assert [text_of(m) for m in shop.telegram.sent_to(6250)] == ["Welcome, M6250!"]
    assert [text_of(m) for m in shop.telegram.sent_to(6251)] == ["Welcome, M6251!"]
    assert [text_of(m) for m in shop.telegram.sent_to(6252)] == ["Hello again, M6252!"]
    assert shop.telegram.sent_to(6253) == []
    assert [text_of(m) for m in shop.telegram.sent_to(6254)] == ["Hello again, M6254!"]


async def test_points_short_fires_when_a_purchase_brings_the_member_near_the_next_tier(
    shop: Shop,
) -> None:
    await shop.runtime.program.rules.update(actor="marketer", tiers=TIERS)
    (ann,) = await members(shop, telegram_ids(6300, 1))
    broadcast_id = await standing(
        shop,
        {"kind": "points_short", "points": 200, "of": "tier"},
        text="Only {points_to_next_tier} to {name}'s next tier",
    )

    await buy(shop, ann, "500", "far")
    await shop.engine.run(broadcast_id)
    assert shop.telegram.sent_to(6300) == []

    await buy(shop, ann, "350", "near")
    await shop.engine.run(broadcast_id)
    (message,) = shop.telegram.sent_to(6300)
    assert text_of(message) == "Only 150 to M6300's next tier"


# ---------------------------------------------------------------------- feedback
FEEDBACK = {"kind": "feedback", "delay_minutes": 120, "reward_points": 25}
QUESTION = "How likely are you to recommend us? 0-10"


async def test_feedback_on_telegram_with_buttons_a_comment_and_one_reward(
    shop: Shop, fake_telegram: FakeTelegramAPI
) -> None:
    broadcast_id = await standing(shop, FEEDBACK, text=QUESTION)
    async with webhook_client(shop.runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=6400)
        await ann.sign_up(marketing=True)
        member = await shop.runtime.program.members.find(IdentityKey("telegram", "6400"))
        assert member is not None
        await shop.runtime.program.purchases.credit(
            member.card_code, "100", purchase_id="p-1", actor="till", store="Center"
        )
        await shop.runtime.program.bus.drain()
        await shop.engine.run(broadcast_id)
        before = len(ann.received)
        # Asked two hours after the purchase, not at once.
        assert text_of(ann.last) != QUESTION
        shop.clock.offset += timedelta(hours=2)
        await shop.engine.run(broadcast_id)
        assert len(ann.received) == before + 1
        question = ann.last
        assert text_of(question) == QUESTION
        scores = [*range(1, 11), 0]
        assert inline_actions(question) == [f"fb:{broadcast_id}:{n}" for n in scores]

        thanks = await ann.press(f"fb:{broadcast_id}:9")
        assert text_of(thanks).startswith("Thank you for your answer!\n25 points added")
        commented = await ann.send("Friendly staff, slow card machine")
        assert text_of(commented) == "Thank you, your comment is with the shop now."

        again = await ann.press(f"fb:{broadcast_id}:3")
        assert "already answered" in text_of(again)
        # A forged (or garbled) answer beyond the scale is refused with the range.
        forged = await ann.exchange(
            fake_telegram.callback_update(
                user_id=6400, data=f"fb:{broadcast_id}:11", message_id=None, language_code="en"
            )
        )
        assert text_of(forged) == "Please answer with a whole number from 0 to 10."

    async with shop.runtime.db.reading() as session:
        (request,) = (await session.scalars(select(FeedbackRequest))).all()
    assert (request.store, request.score, request.comment) == (
        "Center",
        9,
        "Friendly staff, slow card machine",
    )
    assert await count(shop.runtime, LedgerEntry, LedgerEntry.reason == "feedback") == 1
    # The member sees their answer in their data; erased, the comment goes, the score stays.
    privacy = shop.runtime.program.privacy
    (exported,) = (await privacy.export(request.member_id))["feedback"]
    assert (exported["score"], exported["comment"]) == (9, "Friendly staff, slow card machine")
    await privacy.erase(request.member_id)
    async with shop.runtime.db.reading() as session:
        kept = await session.get(FeedbackRequest, request.id)
    assert kept is not None and (kept.score, kept.comment) == (9, None)


async def test_feedback_on_vk_offers_every_answer_from_0_to_10(shop: Shop) -> None:
    """VK's inline keyboards hold 10 buttons: the 11 answers come as a one-time keyboard
    (the fake VK refuses a keyboard beyond VK's limits, as VK does), and tapping 0 is a 0."""
    broadcast_id = await standing(shop, {**FEEDBACK, "delay_minutes": 0}, text=QUESTION)
    (member_id,) = await members(shop, ["6700"], channel="vk")
    await buy(shop, member_id, "100", "vk-1", store="Center")
    await shop.engine.run(broadcast_id)
    (question,) = shop.vk.sent_to(6700)
    assert question.message == QUESTION
    assert question.labels == [str(n) for n in [*range(1, 11), 0]]
    assert question.actions == [f"fb:{broadcast_id}:{n}" for n in [*range(1, 11), 0]]
    assert question.keyboard is not None and question.keyboard["one_time"] is True

    channel = shop.runtime.vk
    assert channel is not None
    app = web.Application()
    channel.register_webhook(app)
    async with TestClient(TestServer(app)) as client:
        vera = test_vk.VkMember(shop.vk, client, 6700)
        (thanks,) = await vera.press(f"fb:{broadcast_id}:0")
    assert thanks.message.startswith("Thank you for your answer!\n25 points added")
    # The one-time keyboard is gone after the tap: the thanks brings the main menu back.
    assert thanks.keyboard is not None and thanks.keyboard["inline"] is False
    assert "💰 Balance" in thanks.labels
    async with shop.runtime.db.reading() as session:
        (request,) = (await session.scalars(select(FeedbackRequest))).all()
    assert (request.member_id, request.store, request.score) == (member_id, "Center", 0)


async def test_the_default_question_is_asked_in_a_language_the_broadcast_has_no_text_in(
    shop: Shop,
) -> None:
    english = await standing(shop, {**FEEDBACK, "delay_minutes": 0}, text={"en": QUESTION})
    (ann,) = await members(shop, ["6800"])
    (boris,) = await members(shop, ["6801"], language="ru")
    for member in (ann, boris):
        await buy(shop, member, "100", f"q-{member}")
    await shop.engine.run(english)
    (to_ann,) = shop.telegram.sent_to(6800)
    (to_boris,) = shop.telegram.sent_to(6801)
    assert text_of(to_ann) == QUESTION
    # Not the English text: the question in Russian, from the locales.
    assert text_of(to_boris) == (
        "Насколько вероятно, что вы порекомендуете нас другу?"
        " 0 — точно нет, 10 — обязательно порекомендую."
    )
    assert inline_actions(to_boris) == [f"fb:{english}:{n}" for n in [*range(1, 11), 0]]

    # A question without any text: each member is asked in their own language.
    await shop.engine.broadcasts.cancel(english)
    silent = await standing(shop, {**FEEDBACK, "delay_minutes": 0}, text=None)
    (darya,) = await members(shop, ["6802"], language="fa")
    await buy(shop, darya, "100", "q-darya")
    await buy(shop, ann, "100", "q-ann-2")
    await shop.engine.run(silent)
    (to_darya,) = shop.telegram.sent_to(6802)
    assert text_of(to_darya).startswith("چقدر احتمال دارد ما را به یک دوست پیشنهاد کنید؟")
    # Ann answered the first question's rule; the new rule asks her again, in English.
    assert text_of(shop.telegram.sent_to(6800)[-1]) == (
        "How likely are you to recommend us to a friend? 0 – not at all, 10 – certainly."
    )
    # The preview shows the question each language gets.
    code, shown, _ = await run_cli(shop.runtime.settings, "broadcast-preview", str(silent))
    assert code == 0
    assert "How likely are you to recommend us to a friend?" in shown
    assert "== variant A · fa ==" in shown and "Насколько вероятно" in shown
    # With the answers the member taps (numbered on WhatsApp: 1-10, then 0 as the 11th).
    assert "[ 1 ]" in shown and "[ 10 ]" in shown and "[ 0 ]" in shown
    assert "   11. 0" in shown


async def test_feedback_on_whatsapp_by_number(shop: Shop, fake_twilio: FakeTwilioAPI) -> None:
    broadcast_id = await standing(shop, {**FEEDBACK, "delay_minutes": 0}, text=QUESTION)
    async with serve_whatsapp(shop.runtime, fake_twilio) as whatsapp:
        cara = WhatsAppMember(whatsapp, "+49990006500")
        await cara.sign_up(marketing=True)
        profile = await cara.profile()
        await shop.runtime.program.purchases.credit(
            profile.card_code, "100", purchase_id="w-1", actor="till", store="Mall"
        )
        await shop.runtime.program.bus.drain()
        await shop.engine.run(broadcast_id)
        question = cara.last
        assert question.body.startswith(QUESTION)
        assert choices(question)["7"] == "7" and choices(question)["0"] == "11"

        refused = await cara.say("12")
        assert refused.body == "Please answer with a whole number from 0 to 10."
        thanks = await cara.say("7")
        assert thanks.body.startswith("Thank you for your answer!\n25 points added")
        # Back at the main menu, numbered anew: a number now picks from it.
        assert "💰 Balance" in choices(thanks)

    async with shop.runtime.db.reading() as session:
        (request,) = (await session.scalars(select(FeedbackRequest))).all()
    assert (request.store, request.score) == ("Mall", 7)
    assert await count(shop.runtime, LedgerEntry, LedgerEntry.reason == "feedback") == 1


async def test_feedback_report_gives_nps_per_store_and_period(shop: Shop) -> None:
    (member,) = await members(shop, telegram_ids(6600, 1))
    now = shop.clock.now()
    # Center: 9, 10, 10 promoters, 8 passive, 3 and 6 detractors: (3 - 2) / 6 = +16.7.
    # Mall: 0 and 10: 0. One answer last month in Center, outside the period asked for.
    answers = [("Center", s) for s in (9, 10, 10, 8, 3, 6)] + [("Mall", 0), ("Mall", 10)]
    async with shop.runtime.db.transaction() as session:
        for number, (store, score) in enumerate(answers):
            session.add(
                FeedbackRequest(
                    member_id=member, purchase_id=f"r-{number}", store=store,
                    reward_points=0, asked_at=now, score=score, answered_at=now,
                )
            )  # fmt: skip
        session.add(
            FeedbackRequest(
                member_id=member, purchase_id="r-old", store="Center", reward_points=0,
                asked_at=now - timedelta(days=40), score=0,
                answered_at=now - timedelta(days=40),
            )
        )  # fmt: skip
    since = now - timedelta(days=7)
    report = await shop.runtime.program.feedback.report(since=since, until=now + timedelta(1))
    assert report == [
        StoreScore("Center", answers=6, promoters=3, passives=1, detractors=2),
        StoreScore("Mall", answers=2, promoters=1, passives=0, detractors=1),
    ]
    assert [score.nps for score in report] == [16.7, 0.0]

    code, out, err = await run_cli(
        shop.runtime.settings,
        "feedback-report",
        "--store",
        "Center",
        "--since",
        since.date().isoformat(),
        "--json",
    )
    assert code == 0, err
    assert json.loads(out) == [
        {"store": "Center", "answers": 6, "promoters": 3, "passives": 1, "detractors": 2,
         "nps": 16.7}
    ]  # fmt: skip
    code, out, err = await run_cli(shop.runtime.settings, "feedback-report")
    assert code == 0, err
    assert "Center" in out and "all stores" in out
    code, out, err = await run_cli(
        shop.runtime.settings, "feedback-report", "--since", "2026-02-01", "--until", "2026-01-01"
    )
    assert code == 1 and "Refused" in err + out


async def test_feedback_report_takes_a_date_as_the_whole_day_in_the_programs_zone(
    shop: Shop,
) -> None:
    """--since D --until D is the day D, from its midnight to the next in the program's zone
    (Moscow), the last minute included: as a segment's dates, a date is a whole day."""
    (member,) = await members(shop, telegram_ids(6800, 1))
    moscow = ZoneInfo("Europe/Moscow")
    day = shop.clock.now().astimezone(moscow).date()
    midnight = datetime.combine(day, time.min, tzinfo=moscow)
    # 00:30 (still yesterday in UTC) and 23:59 count; 00:30 the next day does not.
    times = [midnight + timedelta(minutes=30), midnight + timedelta(hours=23, minutes=59),
             midnight + timedelta(days=1, minutes=30)]  # fmt: skip
    async with shop.runtime.db.transaction() as session:
        for number, (at, score) in enumerate(zip(times, (10, 0, 9), strict=True)):
            session.add(
                FeedbackRequest(
                    member_id=member, purchase_id=f"d-{number}", store="Center",
                    reward_points=0, asked_at=at, score=score, answered_at=at,
                    comment=f"comment {number}",
                )
            )  # fmt: skip
    settings = shop.runtime.settings
    the_day = ["--since", day.isoformat(), "--until", day.isoformat()]

    code, out, err = await run_cli(settings, "feedback-report", *the_day, "--json")
    assert code == 0, err
    assert json.loads(out) == [
        {"store": "Center", "answers": 2, "promoters": 1, "passives": 0, "detractors": 1,
         "nps": 0.0}
    ]  # fmt: skip
    code, out, err = await run_cli(settings, "feedback-report", "--comments", *the_day, "--json")
    assert code == 0, err
    assert [comment["comment"] for comment in json.loads(out)] == ["comment 1", "comment 0"]
    # A time is an instant as given, --until's excluded.
    code, out, err = await run_cli(
        settings, "feedback-report", "--since", day.isoformat(), "--until",
        (midnight + timedelta(hours=23, minutes=59)).isoformat(), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)[0]["answers"] == 1
    code, out, err = await run_cli(settings, "feedback-report", "--until", "2026-13-01")
    assert code == 2 and "not an ISO date" in err


async def test_feedback_report_comments_newest_first_with_store_score_and_card(
    shop: Shop,
) -> None:
    """A member who wrote a comment was told it is with the shop: the shop reads it with
    feedback-report --comments (and --json), filtered as the NPS is."""
    ann, bob = await members(shop, telegram_ids(6700, 2))
    now = shop.clock.now()
    answers = [
        (ann, "Center", 9, "Friendly staff", timedelta(hours=2)),
        (bob, "Mall", 3, "Cold coffee\nand a slow till", timedelta(hours=1)),
        (ann, "Center", 10, None, timedelta(minutes=30)),
        (bob, "Center", 6, "Last month", timedelta(days=40)),
    ]
    async with shop.runtime.db.transaction() as session:
        for number, (member, store, score, comment, ago) in enumerate(answers):
            session.add(
                FeedbackRequest(
                    member_id=member, purchase_id=f"c-{number}", store=store,
                    reward_points=0, asked_at=now - ago, score=score,
                    answered_at=now - ago, comment=comment,
                )
            )  # fmt: skip
    moscow = ZoneInfo("Europe/Moscow")
    since = (now - timedelta(days=7)).date().isoformat()
    settings = shop.runtime.settings

    code, out, err = await run_cli(settings, "feedback-report", "--comments", "--since", since)
    assert code == 0, err
    assert out.splitlines() == [
        f"{(now - timedelta(hours=1)).astimezone(moscow):%Y-%m-%d %H:%M} MSK  Mall  score 3"
        f"  card {await card_of(shop, bob)}",
        "    Cold coffee",
        "    and a slow till",
        f"{(now - timedelta(hours=2)).astimezone(moscow):%Y-%m-%d %H:%M} MSK  Center  score 9"
        f"  card {await card_of(shop, ann)}",
        "    Friendly staff",
    ]
    code, out, err = await run_cli(
        settings, "feedback-report", "--comments", "--store", "Center", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == [
        {"answered_at": (now - timedelta(hours=2)).isoformat(), "store": "Center", "score": 9,
         "card": await card_of(shop, ann), "comment": "Friendly staff"},
        {"answered_at": (now - timedelta(days=40)).isoformat(), "store": "Center", "score": 6,
         "card": await card_of(shop, bob), "comment": "Last month"},
    ]  # fmt: skip
    code, out, err = await run_cli(settings, "feedback-report", "--comments", "--limit", "1")
    assert code == 0, err
    assert "Mall" in out and "Center" not in out
    code, out, err = await run_cli(settings, "feedback-report", "--comments", "--limit", "0")
    assert code == 2 and "--limit" in err
    code, out, err = await run_cli(settings, "feedback-report", "--comments", "--store", "Nowhere")
    assert (code, out.strip()) == (0, "No comments in this period.")


async def test_a_standing_rule_on_the_command_line(shop: Shop, tmp_path: Path) -> None:
    settings = shop.runtime.settings
    code, out, err = await run_cli(
        settings, "broadcast-create", "--file", "examples/broadcast-feedback.json"
    )
    assert code == 0, err
    broadcast_id = int(out.strip())
    code, out, err = await run_cli(settings, "broadcast-send", str(broadcast_id))
    assert code == 0, err
    assert f"Broadcast {broadcast_id} is on" in out and "feedback trigger" in out
    # Who sends it, as this deployment runs: no separate job worker on the embedded default.
    if settings.redis_url:
        assert "(a running `python main.py run` (or `python main.py worker`) sends it)" in out
    else:
        assert "(a running `python main.py run` sends it)" in out
    assert "job worker" not in out
    assert await shop.engine.broadcasts.state(broadcast_id) == "sending"

    # The rule is shown on or off; the stored state stays a broadcast's.
    code, out, err = await run_cli(settings, "broadcast-status", str(broadcast_id))
    assert code == 0, err
    assert out.startswith(f"Broadcast {broadcast_id} (How was your visit?): on\n")
    code, out, err = await run_cli(settings, "broadcast-status", "--json", str(broadcast_id))
    shown = json.loads(out)
    assert (shown["state"], shown["stored_state"], shown["standing_rule"]) == (
        "on",
        "sending",
        True,
    )
    for command, said in (("pause", "off"), ("resume", "on"), ("cancel", "cancelled")):
        code, out, err = await run_cli(settings, f"broadcast-{command}", str(broadcast_id))
        assert (code, out.strip()) == (0, f"Broadcast {broadcast_id} is {said}."), err

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "text": "hi", "trigger": {"kind": "win_back"}}))
    code, out, err = await run_cli(settings, "broadcast-create", "--file", str(bad))
    assert code == 1 and "trigger.win_back: lacks days" in err + out


async def held_out(shop: Shop, broadcast_id: int, member_id: int) -> bool:
    spec = (await shop.engine.broadcasts.get(broadcast_id)).spec
    return variant_for(broadcast_id, member_id, spec.resolved(), spec.holdout) == HOLDOUT


async def feedback_entries(shop: Shop, member_id: int) -> int:
    return await count(
        shop.runtime,
        LedgerEntry,
        LedgerEntry.reason == "feedback",
        LedgerEntry.member_id == member_id,
    )


async def test_only_a_member_the_question_was_sent_to_can_answer_it(
    shop: Shop, fake_telegram: FakeTelegramAPI
) -> None:
    """A held-out member is never asked: the number they type is no score and pays nothing;
    the member it was sent to answers the same way and is counted."""
    broadcast_id = await standing(shop, {**FEEDBACK, "delay_minutes": 0}, text=QUESTION, holdout=50)
    async with webhook_client(shop.runtime) as client:
        chatting: dict[bool, tuple[TelegramMember, int]] = {}
        for user_id in range(6900, 6940):
            person = TelegramMember(fake_telegram, webhook_delivery(client), user_id=user_id)
            await person.sign_up(marketing=True)
            member = await shop.runtime.program.members.find(IdentityKey("telegram", str(user_id)))
            assert member is not None
            holdout = await held_out(shop, broadcast_id, member.id)
            if holdout not in chatting:
                chatting[holdout] = (person, member.id)
                await shop.runtime.program.purchases.credit(
                    member.card_code, "100", purchase_id=f"fb-{user_id}", actor="till"
                )
                await shop.runtime.program.bus.drain()
            if len(chatting) == 2:
                break
        (held, held_id), (asked, asked_id) = chatting[True], chatting[False]
        await shop.engine.run(broadcast_id)
        assert text_of(asked.last) == QUESTION
        assert text_of(held.last) != QUESTION

        not_asked = await held.send("9")
        assert text_of(not_asked) == (
            "Sorry, I did not understand that. Choose from the menu, or send /help."
        )
        # Its button, forged or from an old message, is refused too.
        pressed = await held.exchange(
            fake_telegram.callback_update(
                user_id=held.user_id,
                data=f"fb:{broadcast_id}:9",
                message_id=None,
                language_code="en",
            )
        )
        assert "Thank you for your answer" not in text_of(pressed)
        thanks = await asked.send("9")
        assert text_of(thanks).startswith("Thank you for your answer!\n25 points added")

    async with shop.runtime.db.reading() as session:
        requests = {row.member_id: row for row in await session.scalars(select(FeedbackRequest))}
    assert (requests[held_id].score, requests[held_id].asked_at) == (None, None)
    assert requests[asked_id].score == 9 and requests[asked_id].asked_at is not None
    assert await feedback_entries(shop, held_id) == 0
    assert await feedback_entries(shop, asked_id) == 1
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert (status.sent, status.skipped_by_reason) == (1, {"holdout": 1})


async def test_a_question_skipped_for_an_unreachable_member_is_never_asked(shop: Shop) -> None:
    """A member with no account the broadcast can use is skipped, and their question stays
    unasked: no number of theirs is a score."""
    broadcast_id = await standing(shop, {**FEEDBACK, "delay_minutes": 0}, text=QUESTION)
    (member_id,) = await members(shop, telegram_ids(6950, 1))
    await buy(shop, member_id, "100", "unreachable-1")
    # The member blocked the bot: Telegram refuses the send.
    shop.telegram.block_chat(6950)
    await shop.engine.run(broadcast_id)
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert (status.sent, status.skipped) == (0, 1)
    assert await shop.runtime.program.feedback.unanswered(member_id) is None


QUIZ: dict[str, Any] = {
    "slug": "cups",
    "title": {"en": "Cups"},
    "description": "A question about our coffee.",
    "starts": "2026-01-01T00:00:00+00:00",
    "steps": [
        {"kind": "quiz", "question": "How many cups make a pot?", "answers": ["3"]},
        {"kind": "quiz", "question": "Where is our first shop?", "answers": ["Paris"]},
    ],
    "reward": {"points": 10},
}


async def test_a_quiz_awaiting_an_answer_takes_a_typed_number_before_feedback(
    shop: Shop, fake_telegram: FakeTelegramAPI
) -> None:
    """An open feedback question never takes the answer a quiz waits for; of a quiz and a
    feedback comment both waiting, the one the member came to last takes their text."""
    broadcast_id = await standing(shop, {**FEEDBACK, "delay_minutes": 0}, text=QUESTION)
    quest = (await shop.runtime.program.quests.create(parse_definition(QUIZ), actor="marketer")).id
    async with webhook_client(shop.runtime) as client:
        ann = TelegramMember(fake_telegram, webhook_delivery(client), user_id=6960)
        await ann.sign_up(marketing=True)
        member = await shop.runtime.program.members.find(IdentityKey("telegram", "6960"))
        assert member is not None
        await shop.runtime.program.purchases.credit(
            member.card_code, "100", purchase_id="quiz-1", actor="till"
        )
        await shop.runtime.program.bus.drain()
        await shop.engine.run(broadcast_id)
        assert text_of(ann.last) == QUESTION

        await ann.send("/quests")
        await ann.press(f"quest:{quest}")
        await ann.press(f"quest:join:{quest}")
        asked = await ann.press(f"quest:answer:{quest}:0")
        assert text_of(asked).endswith("Type your answer in a message.")
        right = await ann.send("3")
        assert text_of(right).startswith("✅ Right!")
        assert await shop.runtime.program.feedback.unanswered(member.id) is not None

        # The next quiz question waits; the member answers the feedback question with its
        # button and is asked for a comment: the comment, asked last, takes their text.
        asked = await ann.press(f"quest:answer:{quest}:1")
        assert text_of(asked).endswith("Type your answer in a message.")
        thanks = await ann.press(f"fb:{broadcast_id}:8")
        assert text_of(thanks).startswith("Thank you for your answer!")
        commented = await ann.send("Lovely coffee")
        assert text_of(commented) == "Thank you, your comment is with the shop now."
        # The quiz still waits for its answer.
        right = await ann.send("Paris")
        assert text_of(right).startswith("✅ Right!")
    async with shop.runtime.db.reading() as session:
        (request,) = (await session.scalars(select(FeedbackRequest))).all()
    assert (request.score, request.comment) == (8, "Lovely coffee")


# ---------------------------------------------------------------------- attribution
async def test_a_standing_rules_rounds_and_holdout_are_attributed_from_their_own_firing(
    shop: Shop,
) -> None:
    """Win-back fires for members weeks apart: each held-out member's purchases count from
    when they would have been sent (not from the rule's start), and a member fired for in two
    periods is a delivery, attributed, in each."""
    day = timedelta(days=1)
    candidates = await members(shop, telegram_ids(7000, 40))
    broadcast_id = await standing(
        shop,
        {"kind": "win_back", "days": 30, "period_days": 60},
        text="We miss you, {name}",
        holdout=50,
    )
    held = [m for m in candidates if await held_out(shop, broadcast_id, m)]
    sent = [m for m in candidates if m not in held]
    (held_x, held_y), (sent_x, sent_y) = held[:2], sent[:2]
    start = shop.clock.now()

    def on(days: int) -> None:
        shop.clock.offset += start + days * day - shop.clock.now()

    triggers = shop.runtime.program.triggers
    for member in (held_x, sent_x):
        await buy(shop, member, "100", f"x-{member}")
    on(20)
    for member in (held_y, sent_y):
        await buy(shop, member, "100", f"y-{member}")
    on(31)
    assert await triggers.fire_due() == 2  # X
    await shop.engine.run(broadcast_id)
    on(32)
    await buy(shop, sent_x, "40", "sent-x-round-0")
    on(33)
    await buy(shop, held_x, "70", "held-x")
    on(51)
    assert await triggers.fire_due() == 2  # Y
    await shop.engine.run(broadcast_id)
    on(55)
    await buy(shop, held_y, "80", "held-y")
    on(62)
    for member in (held_x, sent_y):
        await buy(shop, member, "100", f"keep-{member}")  # after their windows: not counted
    on(64)
    assert await triggers.fire_due() == 1  # X's sent member again, in the next period
    await shop.engine.run(broadcast_id)
    on(66)
    await buy(shop, sent_x, "60", "sent-x-round-1")

    assert len(shop.telegram.sent_to(int(7000 + candidates.index(sent_x)))) == 2
    status = await shop.engine.broadcasts.status(broadcast_id)
    assert (status.recipients, status.sent, status.skipped_by_reason) == (5, 3, {"holdout": 2})
    report = await wiring.attribution(shop.runtime.program).report(broadcast_id)
    (variant,) = report.variants
    assert (variant.delivered, variant.purchased, str(variant.revenue)) == (3, 2, "100.00")
    assert report.holdout is not None
    assert (report.holdout.delivered, report.holdout.purchased) == (2, 2)
    assert str(report.holdout.revenue) == "150.00"

    code, out, err = await run_cli(
        shop.runtime.settings, "broadcast-status", "--json", str(broadcast_id)
    )
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["sent"], shown["recipients"]) == (3, 5)


async def test_win_back_counts_the_purchases_of_cards_merged_into_the_member(
    shop: Shop,
) -> None:
    survivor, absorbed = await members(shop, telegram_ids(7100, 2))
    broadcast_id = await standing(shop, {"kind": "win_back", "days": 30, "period_days": 90})
    triggers = shop.runtime.program.triggers
    await buy(shop, survivor, "100", "survivor-old")
    shop.clock.offset += timedelta(days=20)
    await buy(shop, absorbed, "100", "absorbed-recent")
    async with shop.runtime.db.transaction() as session:
        await session.execute(
            update(Member).where(Member.id == absorbed).values(merged_into_id=survivor)
        )
    # 31 days after the survivor's own purchase, 11 after the merged card's: not lapsed.
    shop.clock.offset += timedelta(days=11)
    assert await triggers.fire_due() == 0
    shop.clock.offset += timedelta(days=20)
    assert await triggers.fire_due() == 1
    await shop.engine.run(broadcast_id)
    assert len(shop.telegram.sent_to(7100)) == 1


async def test_points_short_of_a_reward_fires_near_the_cheapest_one_not_affordable_yet(
    shop: Shop,
) -> None:
    (ann,) = await members(shop, telegram_ids(7200, 1))
    async with shop.runtime.db.transaction() as session:
        campaign = await session.scalar(
            select(CouponCampaign.id).where(CouponCampaign.slug == "spring")
        )
        assert campaign is not None
        for slug, cost, active in (("mug", 1000, True), ("retired", 900, False)):
            session.add(
                Reward(
                    slug=slug, name=slug, cost=cost, campaign_id=campaign, active=active,
                    created_at=shop.clock.now(),
                )
            )  # fmt: skip
    broadcast_id = await standing(
        shop,
        {"kind": "points_short", "points": 200, "of": "reward"},
        text="{name}, a reward is close",
    )
    await buy(shop, ann, "100", "far")
    await shop.engine.run(broadcast_id)
    assert shop.telegram.sent_to(7200) == []

    balance = await shop.runtime.program.ledger.balance(ann)
    # 850: 50 short of the inactive 900 would not count; 150 short of the 1000 one does.
    await shop.runtime.program.ledger.post(
        ann, 850 - balance, reason="adjustment", actor="test", idempotency_key="to-850"
    )
    await buy(shop, ann, "1", "near")
    await shop.engine.run(broadcast_id)
    (message,) = shop.telegram.sent_to(7200)
    assert text_of(message) == "M7200, a reward is close"


async def test_a_broadcast_named_trigger_finishes(shop: Shop) -> None:
    """The word in a name or a text is no trigger: the one-off broadcast is done once sent."""
    await add_members(shop, "telegram", telegram_ids(7300, 1))
    broadcast_id = await shop.create(name="trigger", text="trigger", holdout=0, variants=[])
    await shop.send(broadcast_id)
    assert [text_of(m) for m in shop.telegram.sent_to(7300)] == ["trigger"]
    assert await shop.engine.broadcasts.state(broadcast_id) == "done"


async def test_a_points_short_rule_that_can_never_fire_is_refused_at_create(
    shop: Shop, tmp_path: Path
) -> None:
    # The shop has no tiers and an empty rewards catalogue, as after a fresh install.
    for of in ("tier", "reward"):
        with pytest.raises(TriggerCannotFire) as refused:
            await standing(shop, {"kind": "points_short", "points": 100, "of": of})
        assert refused.value.code == "broadcast_trigger_cannot_fire"
    rule = tmp_path / "short.json"
    rule.write_text(
        json.dumps({"name": "x", "text": "hi", "trigger": {"kind": "points_short", "points": 1}})
    )
    code, out, err = await run_cli(shop.runtime.settings, "broadcast-create", "--file", str(rule))
    assert (code, out) == (1, "")
    assert err.startswith('Refused: trigger: points_short of "tier" can never fire: the rules')
    async with shop.runtime.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0

    # A base tier alone is reached by everyone: still nothing to be short of.
    await shop.runtime.program.rules.update(
        actor="marketer", tiers=[{"key": "base", "name": "Base", "threshold": 0}]
    )
    with pytest.raises(TriggerCannotFire):
        await standing(shop, {"kind": "points_short", "points": 100})
    await shop.runtime.program.rules.update(actor="marketer", tiers=TIERS)
    assert await standing(shop, {"kind": "points_short", "points": 100})
