"""Actions on the wire and their routes: every button fits Telegram's 64 bytes, old buttons keep
working, two features cannot claim one prefix, and nothing a member can send crashes the menu."""

from __future__ import annotations

import secrets
import zoneinfo
from dataclasses import dataclass

import pytest

from app.runtime import Runtime
from core.members.accounts import IdentityKey
from handlers import actions
from handlers.conversation import Conversation
from handlers.messages import Incoming, Reply
from handlers.render.parsing import simplify
from handlers.render.views import TIME_ZONES
from handlers.routing import (
    MAX_ACTION_BYTES,
    Action,
    ActionTooLong,
    RouteConflict,
    Router,
    Turn,
    UnreadableAction,
)
from tests.data import enrol

# The longest value each field can realistically carry. A new kind's field must be added here,
# so that its worst case is measured against the 64 bytes before a member meets it.
BIGINT = 2**63 - 1
LARGEST = {
    "page": BIGINT,
    "id": BIGINT,
    "code": "fa",
    # Every IANA name, not only the zones offered today (they may grow).
    "zone": max(zoneinfo.available_timezones() | set(TIME_ZONES), key=len),
    "channel": "whatsapp",
    # A Telegram id is below 2**52; a phone number has at most 15 digits (E.164).
    "external_id": "+" + "9" * 15,
    "nonce": secrets.token_hex(4),
    # A quest's step (at most 10 steps) and a quiz's choice (at most 6).
    "step": 9,
    "choice": 6,
    "metric": "friends",
    "period": "month",
    # Only ever typed (/nickname ...), never a button; 20 Persian letters, the longest kept.
    "name": "ن" * 20,
    # A broadcast's button: its id, the longest variant key (core.broadcasts.spec), and the
    # longest action it can open (a reward's or a quest's, by id).
    "broadcast": BIGINT,
    "variant": "ABCDEFGH",
    "target": f"reward:{BIGINT}",
    # A feedback question's answer: 0-10.
    "score": 10,
}

# The strings buttons carried before actions were typed: members keep those keyboards.
OLD_BUTTONS = {
    "start": actions.Start(),
    "menu": actions.Menu(),
    "menu:balance": actions.Balance(),
    "menu:history": actions.History(),
    "history:3": actions.HistoryPage(3),
    "menu:card": actions.Card(),
    "menu:help": actions.Help(),
    "menu:invite": actions.Invite(),
    "menu:language": actions.Language(),
    "lang:fa": actions.ChooseLanguage("fa"),
    "menu:timezone": actions.TimeZone(),
    "tz:Asia/Tehran": actions.ChooseTimeZone("Asia/Tehran"),
    "marketing:on": actions.MarketingOn(),
    "marketing:off": actions.MarketingOff(),
    "menu:link": actions.Messengers(),
    "link:code": actions.LinkCode(),
    "unlink:whatsapp:+79990001122": actions.Unlink("whatsapp", "+79990001122"),
    "unlink:console:a:b": actions.Unlink("console", "a:b"),
    "menu:privacy": actions.Privacy(),
    "privacy:export": actions.Export(),
    "privacy:erase": actions.Erase(),
    "privacy:erase:confirmed": actions.EraseConfirmed(),
    "menu:coupons": actions.Coupons(),
    "menu:rewards": actions.Rewards(),
    "rewards:2": actions.RewardsPage(2),
    "reward:7": actions.Reward(7),
    "reward:claim:7": actions.RewardClaim(7),
    "reward:yes:7:1a2b3c4d": actions.RewardConfirmed(7, "1a2b3c4d"),
    "menu:contests": actions.Contests(),
    "contest:3": actions.ContestPage(3),
    "contest:join:3": actions.ContestJoin(3),
    "contest:claim:3": actions.ContestClaim(3),
    "skip": actions.Skip(),
    "terms:accept": actions.TermsAccept(),
    "terms:decline": actions.TermsDecline(),
    "consent:yes": actions.ConsentYes(),
    "consent:no": actions.ConsentNo(),
    "phone:share": actions.SharePhone(),
    "games:badges": actions.Badges(),
    "games:checkin": actions.CheckIn(),
    "games:top": actions.Leaderboard(),
    "games:board:friends:month": actions.LeaderboardOf("friends", "month"),
    "games:nick": actions.Nickname(),
    "games:nick:hide": actions.NicknameHide(),
    "games:nick:set:Ann": actions.NicknameSet("Ann"),
    "phone:link": actions.PhoneCardLink(),
    "phone:new": actions.PhoneCardNew(),
    "menu:games": actions.Games(),
    "menu:quests": actions.Quests(),
    "quest:7": actions.Quest(7),
    "quest:join:7": actions.QuestJoin(7),
    "quest:choice:7:3:2": actions.QuestChoice(7, 3, 2),
    "quest:answer:7:4": actions.QuestAnswer(7, 4),
    "quest:proof:7:5": actions.QuestProof(7, 5),
    "quest:check:7:6": actions.QuestCheck(7, 6),
    "quest:cancel": actions.QuestCancel(),
    "bc:7:A:menu:coupons": actions.BroadcastTap(7, "A", "menu:coupons"),
    "bc:7:B:quest:3": actions.BroadcastTap(7, "B", "quest:3"),
    "fb:7:10": actions.FeedbackScore(7, 10),
    "menu:profile": actions.Profile(),
    "profile:phone": actions.ProfilePhone(),
    "profile:phone:own": actions.ProfilePhoneOwn(),
    "profile:birthday": actions.ProfileBirthday(),
    "profile:cancel": actions.ProfileCancel(),
    "profile:link": actions.ProfileLink(),
    "profile:keep": actions.ProfileKeep(),
}

# Before actions were typed, a history button whose page could not be read showed the first.
HISTORY_WITHOUT_A_PAGE = ("history:", "history:x", "history:²", "history:۳", "history:5:extra")

# Payloads that are none of ours: another bot's, or noise.
FOREIGN = (
    "",
    ":",
    "vk_payload_from_another_bot",
    "x" * 300,
    "\x00",
)
# Payloads with one of our prefixes whose fields do not read: stale or forged buttons.
STALE = (
    "menu:",
    "menu:balance:extra",
    "reward:abc",
    "reward:claim:",
    "reward:yes:7",
    "reward:-1",
    "reward:" + "9" * 30,
    "history",
    "rewards:1.5",
    "lang",
    "tz:",
    "unlink:telegram",
    "unlink:telegram:",
    "reward:" + "\u00b2",
    "reward:yes:7:" + "a" * 51,
    "reward:yes:7:1a2b-3c4d",
    "reward:yes:7:" + "a" * 300,
    "tz:" + "A" * 300,
)
GARBLED = FOREIGN + STALE


@pytest.fixture
def conversation(runtime: Runtime) -> Conversation:
    return runtime.conversation


def largest(kind: type[Action]) -> Action:
    missing = [name for name, _type in kind.field_types() if name not in LARGEST]
    assert not missing, f"add the largest realistic {missing} of {kind.__name__} to LARGEST"
    return kind(**{name: LARGEST[name] for name, _type in kind.field_types()})


def readings(router: Router, payload: str) -> list[type[Action]]:
    """Every registered kind that would accept the payload: one, or the wire is ambiguous."""
    found = []
    for kind in router.codec.kinds:
        if payload == kind.prefix:
            rest: list[str] | None = []
        elif payload.startswith(kind.prefix + ":"):
            rest = payload[len(kind.prefix) + 1 :].split(":")
        else:
            rest = None
        if rest is not None and kind.parse(rest) is not None:
            found.append(kind)
    return found


def test_every_action_fits_a_telegram_button_at_its_largest(conversation: Conversation) -> None:
    kinds = conversation.router.codec.kinds
    assert set(kinds) == {type(action) for action in OLD_BUTTONS.values()}, "all kinds listed"
    for kind in kinds:
        action = largest(kind)
        encoded = action.encode()
        assert len(encoded.encode()) <= MAX_ACTION_BYTES, encoded
        assert conversation.router.decode(encoded) == action


def test_an_action_too_long_for_a_button_is_refused_not_sent() -> None:
    too_long = actions.Unlink("whatsapp", "9" * 64)
    assert not too_long.fits()
    with pytest.raises(ActionTooLong):
        too_long.encode()


def test_a_separator_inside_a_field_that_is_not_the_last_is_refused() -> None:
    """It would decode as another action: "unlink:a:b:c" is the account "b:c" of channel "a"."""
    with pytest.raises(UnreadableAction, match=r"Unlink\.channel cannot contain ':'"):
        actions.Unlink("tele:gram", "42").encode()
    with pytest.raises(UnreadableAction):
        actions.Unlink(":", "1").encode()
    # The last field takes the rest: that one reads back whole.
    assert actions.Unlink("console", "a:b").encode() == "unlink:console:a:b"


async def test_a_history_button_without_a_readable_page_shows_the_first_page(
    runtime: Runtime,
) -> None:
    router = runtime.conversation.router
    for payload in HISTORY_WITHOUT_A_PAGE:
        assert router.decode(payload) == actions.HistoryPage(1), payload
    member = await enrol(runtime, "pager")
    await runtime.program.purchases.credit(member.card_code, "500", purchase_id="P1", actor="t")
    (first,) = await runtime.conversation.handle(Incoming("telegram", "pager", action="history:1"))
    for payload in HISTORY_WITHOUT_A_PAGE:
        (reply,) = await runtime.conversation.handle(Incoming("telegram", "pager", action=payload))
        assert (reply.text, reply.replaces_origin) == (first.text, True), payload


def test_the_buttons_members_already_have_keep_their_meaning(conversation: Conversation) -> None:
    for payload, action in OLD_BUTTONS.items():
        assert conversation.router.decode(payload) == action, payload
        if ":" not in getattr(action, "external_id", ""):
            assert action.encode() == payload


def test_no_action_string_is_a_prefix_trap_for_another(conversation: Conversation) -> None:
    router = conversation.router
    for kind in router.codec.kinds:
        for action in (largest(kind), *[a for a in OLD_BUTTONS.values() if type(a) is kind]):
            assert readings(router, action.encode()) == [kind], action.encode()

    # The order of registration cannot matter: reversed, every button reads the same.
    reversed_router = Router()
    reversed_router.accept(*reversed(router.codec.kinds))
    for payload in [*OLD_BUTTONS, *GARBLED]:
        assert reversed_router.decode(payload) == router.decode(payload), payload


def test_two_features_cannot_claim_one_prefix() -> None:
    @dataclass(frozen=True)
    class Mine(Action, prefix="quiz"):
        pass

    @dataclass(frozen=True)
    class Theirs(Action, prefix="quiz"):
        pass

    async def answer(_turn: Turn, _action: Action) -> list[Reply]:
        return []

    router = Router()
    router.route(Mine, answer)
    with pytest.raises(RouteConflict, match="both claim the prefix 'quiz'"):
        router.route(Theirs, answer)
    with pytest.raises(RouteConflict, match="routed twice"):
        router.route(Mine, answer)
    with pytest.raises(RouteConflict, match="registered twice"):
        router.command("x", Mine())
        router.command("x", Mine())


def test_a_prefix_that_could_swallow_another_is_refused_in_either_order() -> None:
    @dataclass(frozen=True)
    class Answer(Action, prefix="quiz"):
        choice: str

    @dataclass(frozen=True)
    class Hint(Action, prefix="quiz:hint"):
        pass

    @dataclass(frozen=True)
    class Question(Action, prefix="question"):
        number: int

    @dataclass(frozen=True)
    class QuestionSkip(Action, prefix="question:skip"):
        pass

    for first, second in ((Answer, Hint), (Hint, Answer)):
        router = Router()
        router.accept(first)
        with pytest.raises(RouteConflict, match="could swallow"):
            router.accept(second)
    # A number cannot be read as a word: these two can share the start.
    router = Router()
    router.accept(QuestionSkip, Question)
    assert router.decode("question:skip") == QuestionSkip()
    assert router.decode("question:4") == Question(4)


def test_garbled_and_foreign_payloads_decode_to_nothing(conversation: Conversation) -> None:
    for payload in GARBLED:
        assert conversation.router.decode(payload) is None, payload


async def test_a_member_pressing_a_garbled_button_gets_the_menu(runtime: Runtime) -> None:
    await enrol(runtime, "garbled")
    unknown = runtime.conversation.texts.text("en", "menu-unknown")
    for payload in FOREIGN:
        (reply,) = await runtime.conversation.handle(
            Incoming("telegram", "garbled", action=payload)
        )
        assert reply.text == unknown, payload
        assert "menu:balance" in reply.actions


async def test_a_stale_or_forged_button_of_ours_is_no_longer_valid(runtime: Runtime) -> None:
    """A payload with one of our prefixes whose fields do not read (a forged number, an
    over-long nonce, a retired shape) tells the member the button is no longer valid, with the
    menu; typed text that means nothing keeps "not understood"."""
    await enrol(runtime, "stale")
    texts = runtime.conversation.texts
    for language in ("en", "ru", "fa"):
        assert texts.text(language, "button-invalid") != "button-invalid"
    invalid = texts.text("en", "button-invalid")
    for payload in STALE:
        (reply,) = await runtime.conversation.handle(Incoming("telegram", "stale", action=payload))
        assert reply.text == invalid, payload
        assert "menu:balance" in reply.actions, payload
    for typed in ("reward:yes:7:" + "a" * 51, "reward:\u00b2", "what is this"):
        (reply,) = await runtime.conversation.handle(Incoming("telegram", "stale", text=typed))
        assert reply.text == texts.text("en", "menu-unknown"), typed


def test_no_typed_word_means_two_things(conversation: Conversation) -> None:
    """So the order features register their words in cannot change what a word does."""
    texts = conversation.texts
    meanings: dict[str, set[Action]] = {}
    for words in conversation.router.vocabulary:
        for key in words.text_keys:
            variants = (
                [(words.only, texts.text(words.only, key))] if words.only else texts.variants(key)
            )
            for _language, text in variants:
                for word in text.split(",") if key.startswith("words-") else (text,):
                    if simplify(word):
                        meanings.setdefault(simplify(word), set()).add(words.action)
    clashes = {word: found for word, found in meanings.items() if len(found) > 1}
    assert clashes == {}
    assert meanings["balance"] == {actions.Balance()}
    assert meanings["فارسی"] == {actions.ChooseLanguage("fa")}


async def test_the_sign_up_flow_keeps_its_state_in_its_own_namespace(runtime: Runtime) -> None:
    identity = IdentityKey("sms", "flow-1")
    await runtime.conversation.handle(Incoming("sms", "flow-1", text="/start"))

    state = await runtime.conversations.get(f"flow:signup:{identity}")
    assert state is not None and state["step"] == "terms"
    assert await runtime.conversations.get(str(identity)) is None

    # A state this version does not know starts the sign-up again, with no crash.
    await runtime.conversations.set(f"flow:signup:{identity}", {"step": "quiz-7", "language": "en"})
    (reply,) = await runtime.conversation.handle(Incoming("sms", "flow-1", text="hm"))
    assert reply.actions == ["terms:accept", "terms:decline", "lang:ru", "lang:fa"]
