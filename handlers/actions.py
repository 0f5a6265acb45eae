"""Every kind of action a button can carry: the conversation's wire format in one place.

The encodings are the strings the buttons carried before actions were typed ("menu:balance",
"reward:yes:7:1a2b3c4d"): members keep old keyboards in their chats for months, and a changed
string would answer their taps with "unknown". A new kind takes a new prefix; an old prefix is
never given a new meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.routing import Action

# The longest nonce a confirmation button carries (rewards draw 8 hex digits).
NONCE_MAX = 16

# ---------------------------------------------------------------------------- main menu


@dataclass(frozen=True)
class Start(Action, prefix="start"):
    """/start from a member who has already joined."""


@dataclass(frozen=True)
class Menu(Action, prefix="menu"):
    pass


@dataclass(frozen=True)
class Balance(Action, prefix="menu:balance"):
    pass


@dataclass(frozen=True)
class History(Action, prefix="menu:history"):
    pass


@dataclass(frozen=True)
class HistoryPage(Action, prefix="history"):
    page: int

    @classmethod
    def fallback(cls, segments: list[str]) -> Action | None:
        # Buttons before typed actions showed the first page for "history:" or "history:x".
        return cls(page=1) if segments else None


@dataclass(frozen=True)
class Card(Action, prefix="menu:card"):
    pass


@dataclass(frozen=True)
class Help(Action, prefix="menu:help"):
    pass


@dataclass(frozen=True)
class Invite(Action, prefix="menu:invite"):
    pass


# ---------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Language(Action, prefix="menu:language"):
    pass


@dataclass(frozen=True)
class ChooseLanguage(Action, prefix="lang"):
    code: str


@dataclass(frozen=True)
class TimeZone(Action, prefix="menu:timezone"):
    pass


@dataclass(frozen=True)
class ChooseTimeZone(Action, prefix="tz"):
    zone: str


@dataclass(frozen=True)
class MarketingOn(Action, prefix="marketing:on"):
    pass


@dataclass(frozen=True)
class MarketingOff(Action, prefix="marketing:off"):
    pass


# ---------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class Profile(Action, prefix="menu:profile"):
    pass


@dataclass(frozen=True)
class ProfilePhone(Action, prefix="profile:phone"):
    pass


@dataclass(frozen=True)
class ProfilePhoneOwn(Action, prefix="profile:phone:own"):
    """The number the messenger itself vouches for (WhatsApp's sender)."""


@dataclass(frozen=True)
class ProfileBirthday(Action, prefix="profile:birthday"):
    pass


@dataclass(frozen=True)
class ProfileCancel(Action, prefix="profile:cancel"):
    pass


@dataclass(frozen=True)
class ProfileLink(Action, prefix="profile:link"):
    """Yes: the card found by the verified phone is mine, make the two one."""


@dataclass(frozen=True)
class ProfileKeep(Action, prefix="profile:keep"):
    pass


# ---------------------------------------------------------------------------- messengers


@dataclass(frozen=True)
class Messengers(Action, prefix="menu:link"):
    pass


@dataclass(frozen=True)
class LinkCode(Action, prefix="link:code"):
    pass


@dataclass(frozen=True)
class Unlink(Action, prefix="unlink"):
    channel: str
    external_id: str


# ---------------------------------------------------------------------------- privacy


@dataclass(frozen=True)
class Privacy(Action, prefix="menu:privacy"):
    pass


@dataclass(frozen=True)
class Export(Action, prefix="privacy:export"):
    pass


@dataclass(frozen=True)
class Erase(Action, prefix="privacy:erase"):
    pass


@dataclass(frozen=True)
class EraseConfirmed(Action, prefix="privacy:erase:confirmed"):
    pass


# ---------------------------------------------------------------------------- coupons, rewards


@dataclass(frozen=True)
class Coupons(Action, prefix="menu:coupons"):
    pass


@dataclass(frozen=True)
class Rewards(Action, prefix="menu:rewards"):
    pass


@dataclass(frozen=True)
class RewardsPage(Action, prefix="rewards"):
    page: int


@dataclass(frozen=True)
class Reward(Action, prefix="reward"):
    id: int


@dataclass(frozen=True)
class RewardClaim(Action, prefix="reward:claim"):
    id: int


@dataclass(frozen=True)
class RewardConfirmed(Action, prefix="reward:yes"):
    """The nonce is drawn with the question, so a second tap replays the same claim."""

    id: int
    nonce: str

    def valid(self) -> bool:
        # Drawn as 8 hex digits; a longer or stranger one was never ours.
        return 0 < len(self.nonce) <= NONCE_MAX and self.nonce.isascii() and self.nonce.isalnum()


# ---------------------------------------------------------------------------- sign-up


@dataclass(frozen=True)
class Skip(Action, prefix="skip"):
    pass


@dataclass(frozen=True)
class TermsAccept(Action, prefix="terms:accept"):
    pass


@dataclass(frozen=True)
class TermsDecline(Action, prefix="terms:decline"):
    pass


@dataclass(frozen=True)
class ConsentYes(Action, prefix="consent:yes"):
    pass


@dataclass(frozen=True)
class ConsentNo(Action, prefix="consent:no"):
    pass


# Sign-up asked for the phone before it moved to the profile: kept so that a draft or a
# keyboard of that time still reads.
@dataclass(frozen=True)
class SharePhone(Action, prefix="phone:share"):
    pass


@dataclass(frozen=True)
class PhoneCardLink(Action, prefix="phone:link"):
    pass


@dataclass(frozen=True)
class PhoneCardNew(Action, prefix="phone:new"):
    pass


# ---------------------------------------------------------------------------- games, quests


@dataclass(frozen=True)
class Games(Action, prefix="menu:games"):
    pass


@dataclass(frozen=True)
class Quests(Action, prefix="menu:quests"):
    pass


@dataclass(frozen=True)
class Quest(Action, prefix="quest"):
    id: int


@dataclass(frozen=True)
class QuestJoin(Action, prefix="quest:join"):
    id: int


@dataclass(frozen=True)
class QuestChoice(Action, prefix="quest:choice"):
    """A multiple-choice answer: the quiz step and the choice's number (from 1)."""

    id: int
    step: int
    choice: int


@dataclass(frozen=True)
class QuestAnswer(Action, prefix="quest:answer"):
    """Start typing the answer to a quiz step (the member's place is kept in the store)."""

    id: int
    step: int


@dataclass(frozen=True)
class QuestProof(Action, prefix="quest:proof"):
    """Start sending a proof for a step, reviewed by staff."""

    id: int
    step: int


@dataclass(frozen=True)
class QuestCheck(Action, prefix="quest:check"):
    """Ask the messenger whether the member is in the step's channel."""

    id: int
    step: int


@dataclass(frozen=True)
class QuestCancel(Action, prefix="quest:cancel"):
    pass


# ---------------------------------------------------------------------------- contests


@dataclass(frozen=True)
class Contests(Action, prefix="menu:contests"):
    """The contests list (the Games hub links here too)."""


@dataclass(frozen=True)
class ContestPage(Action, prefix="contest"):
    id: int


@dataclass(frozen=True)
class ContestJoin(Action, prefix="contest:join"):
    id: int


@dataclass(frozen=True)
class ContestClaim(Action, prefix="contest:claim"):
    id: int


# ---------------------------------------------------------------------------- games: badges,
# streaks, leaderboards (the Games hub links to these)


@dataclass(frozen=True)
class Badges(Action, prefix="games:badges"):
    pass


@dataclass(frozen=True)
class CheckIn(Action, prefix="games:checkin"):
    pass


@dataclass(frozen=True)
class Leaderboard(Action, prefix="games:top"):
    """The default board: points, this week."""


@dataclass(frozen=True)
class LeaderboardOf(Action, prefix="games:board"):
    metric: str
    period: str


@dataclass(frozen=True)
class Nickname(Action, prefix="games:nick"):
    """How the member is shown on leaderboards, and how to change it."""


@dataclass(frozen=True)
class NicknameHide(Action, prefix="games:nick:hide"):
    pass


@dataclass(frozen=True)
class NicknameSet(Action, prefix="games:nick:set"):
    """Only typed (`/nickname Ann`), never a button: the name is the member's text."""

    name: str


# ---------------------------------------------------------------------------- broadcasts


@dataclass(frozen=True)
class BroadcastTap(Action, prefix="bc"):
    """A broadcast's button: opens `target` (another action) and says which broadcast and
    variant brought the member there."""

    broadcast: int
    variant: str
    target: str


# ---------------------------------------------------------------------------- feedback


@dataclass(frozen=True)
class FeedbackScore(Action, prefix="fb"):
    """An answer to a feedback broadcast's "would you recommend us?": `score` 0-10 (a larger
    one, forged or stale, is refused with the range)."""

    broadcast: int
    score: int
