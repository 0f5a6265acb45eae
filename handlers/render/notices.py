"""What a member reads when the core tells them something outside a conversation turn:
points earned or spent, a coupon, a new tier, points about to expire, a birthday.

A notice is rendered at delivery time, in the member's language then, from the facts the core
wrote into its payload (see core/notices/announcements.py for each kind's fields).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.notices.outbox import NoticeKind
from core.rules.values import text_in
from core.shared import qr
from handlers import actions
from handlers.messages import Button, Image, Reply
from handlers.render.i18n import Translator


class UnknownNotice(ValueError):
    """A kind this version cannot word (a newer process enqueued it, or a typo)."""


@dataclass(frozen=True)
class NoticeTexts:
    texts: Translator
    # Coupon values in money are shown in the program's currency.
    currency: str = "RUB"

    def render(self, kind: str, payload: dict[str, Any], language: str) -> list[Reply]:
        try:
            renderer = _RENDERERS[NoticeKind(kind)]
        except ValueError as error:
            raise UnknownNotice(kind) from error
        return renderer(self, payload, self.texts.resolve(language))

    # ------------------------------------------------------------------ kinds
    def _points_earned(self, payload: dict[str, Any], language: str) -> list[Reply]:
        return [
            Reply(
                self._text(
                    language,
                    "notice-points-earned",
                    points=self._points(language, payload.get("points")),
                    balance=self._points(language, payload.get("balance")),
                )
            )
        ]

    def _points_spent(self, payload: dict[str, Any], language: str) -> list[Reply]:
        return [
            Reply(
                self._text(
                    language,
                    "notice-points-spent",
                    points=self._points(language, payload.get("points")),
                    balance=self._points(language, payload.get("balance")),
                )
            )
        ]

    def _points_adjusted(self, payload: dict[str, Any], language: str) -> list[Reply]:
        points = _int(payload.get("points"))
        key = "notice-points-added" if points > 0 else "notice-points-taken"
        return [
            Reply(
                self._text(
                    language,
                    key,
                    points=self._points(language, abs(points)),
                    balance=self._points(language, payload.get("balance")),
                )
            )
        ]

    def _coupon_voided(self, payload: dict[str, Any], language: str) -> list[Reply]:
        return [
            Reply(
                self._text(
                    language,
                    "notice-coupon-voided",
                    code=str(payload.get("code") or ""),
                    campaign=str(payload.get("campaign") or ""),
                )
            )
        ]

    def _coupon_received(self, payload: dict[str, Any], language: str) -> list[Reply]:
        code = str(payload.get("code") or "")
        lines = [
            self._text(
                language,
                "notice-coupon-received",
                benefit=self._benefit(payload, language),
                code=code,
            )
        ]
        campaign = payload.get("campaign")
        if campaign:
            lines.append(self._text(language, "notice-coupon-campaign", campaign=str(campaign)))
        valid_until = _date(payload.get("valid_until"))
        if valid_until is not None:
            lines.append(
                self._text(
                    language,
                    "notice-coupon-valid-until",
                    date=self.texts.date(language, valid_until),
                )
            )
        terms = payload.get("terms")
        if terms:
            lines.append(str(terms))
        lines.append(self._text(language, "notice-coupon-show"))
        # The QR carries the code itself: the till scans it like a typed code.
        image = Image(png=qr.png(code), filename=f"coupon-{_safe(code)}.png") if code else None
        return [Reply("\n".join(lines), image=image)]

    def _tier_changed(self, payload: dict[str, Any], language: str) -> list[Reply]:
        tier = self._tier(payload.get("to_tier"), language, payload.get("to_name"))
        key = "notice-tier-upgraded" if payload.get("upgrade") else "notice-tier-downgraded"
        return [Reply(self._text(language, key, tier=tier))]

    def _points_expiring(self, payload: dict[str, Any], language: str) -> list[Reply]:
        expires = _date(payload.get("expires_at"))
        when = self.texts.date(language, expires) if expires is not None else "—"
        return [
            Reply(
                self._text(
                    language,
                    "notice-points-expiring",
                    points=self._points(language, payload.get("points")),
                    date=when,
                )
            )
        ]

    def _coupon_expiring(self, payload: dict[str, Any], language: str) -> list[Reply]:
        code = str(payload.get("code") or "")
        expires = _date(payload.get("valid_until"))
        text = self._text(
            language,
            "notice-coupon-expiring",
            code=code,
            benefit=self._benefit(payload, language),
            date=self.texts.date(language, expires) if expires is not None else "—",
        )
        text += "\n" + self._text(language, "notice-coupon-show")
        image = Image(png=qr.png(code), filename=f"coupon-{_safe(code)}.png") if code else None
        return [Reply(text, image=image)]

    def _points_expired(self, payload: dict[str, Any], language: str) -> list[Reply]:
        return [
            Reply(
                self._text(
                    language,
                    "notice-points-expired",
                    points=self._points(language, payload.get("points")),
                    balance=self._points(language, payload.get("balance")),
                )
            )
        ]

    def _birthday(self, payload: dict[str, Any], language: str) -> list[Reply]:
        bonus = _int(payload.get("points"))
        if bonus > 0:
            text = self._text(
                language, "notice-birthday-bonus", points=self.texts.points(language, bonus)
            )
        else:
            text = self._text(language, "notice-birthday")
        code = payload.get("coupon") or payload.get("code")
        image = None
        if code:
            text += "\n" + self._text(language, "notice-birthday-coupon", code=str(code))
            image = Image(png=qr.png(str(code)), filename=f"coupon-{_safe(str(code))}.png")
        return [Reply(text, image=image)]

    def _quest_step_done(self, payload: dict[str, Any], language: str) -> list[Reply]:
        return [
            Reply(
                self._text(
                    language,
                    "notice-quest-step-done",
                    quest=_localized(payload.get("title"), language),
                    done=_int(payload.get("done")),
                    count=_int(payload.get("steps")),
                )
            )
        ]

    def _quest_completed(self, payload: dict[str, Any], language: str) -> list[Reply]:
        # The profile quest's title is an imperative ("Complete your profile"): said plainly.
        key = "notice-profile-completed" if payload.get("profile") else "notice-quest-completed"
        lines = [self._text(language, key, quest=_localized(payload.get("title"), language))]
        points = _int(payload.get("points"))
        if points > 0:
            lines.append(
                self._text(
                    language,
                    "notice-quest-points",
                    points=self._points(language, points),
                    balance=self._points(language, payload.get("balance")),
                )
            )
        if payload.get("badge"):
            lines.append(self._text(language, "notice-quest-badge", badge=str(payload["badge"])))
        if payload.get("coupon"):
            lines.append(self._text(language, "notice-quest-coupon"))
        return [Reply("\n".join(lines))]

    def _quest_proof_reviewed(self, payload: dict[str, Any], language: str) -> list[Reply]:
        quest = _localized(payload.get("title"), language)
        if payload.get("approved"):
            return [Reply(self._text(language, "notice-quest-proof-approved", quest=quest))]
        reason = str(payload.get("reason") or "").strip()
        if reason:
            text = self._text(language, "notice-quest-proof-rejected", quest=quest, reason=reason)
        else:
            text = self._text(language, "notice-quest-proof-rejected-plain", quest=quest)
        return [Reply(text)]

    def _contest_won(self, payload: dict[str, Any], language: str) -> list[Reply]:
        deadline = _datetime(payload.get("deadline"))
        when = (
            f"{self.texts.date(language, deadline.date(), style='long')} {deadline:%H:%M} UTC"
            if deadline is not None
            else "—"
        )
        key = "notice-contest-reserve-won" if payload.get("reserve") else "notice-contest-won"
        text = self._text(
            language, key, title=_localized(payload.get("title"), language), deadline=when
        )
        contest_id = _int(payload.get("contest_id"))
        claim = Button(
            self._text(language, "contest-claim-button"),
            actions.ContestClaim(contest_id).encode(),
        )
        return [Reply(text, buttons=((claim,),))]

    # ------------------------------------------------------------------ pieces
    def _text(self, language: str, key: str, /, **args: object) -> str:
        return self.texts.text(language, key, **args)

    def _points(self, language: str, value: Any) -> str:
        return self.texts.points(language, _int(value))

    def _benefit(self, payload: dict[str, Any], language: str) -> str:
        kind = payload.get("kind")
        value = _decimal(payload.get("value"))
        if kind == "percent" and value is not None:
            return self._text(
                language, "notice-coupon-percent", percent=self.texts.percent(language, value / 100)
            )
        if kind == "fixed" and value is not None:
            return self._text(
                language,
                "notice-coupon-fixed",
                amount=self.texts.money(language, value, self.currency),
            )
        if kind == "free_item" and payload.get("item"):
            return self._text(language, "notice-coupon-item", item=str(payload["item"]))
        return str(payload.get("campaign") or self._text(language, "notice-coupon-generic"))

    def _tier(self, key: Any, language: str, names: Any = None) -> str:
        if not key:
            return self._text(language, "notice-tier-base")
        # The marketer's names per language, as they were when the tier changed.
        if isinstance(names, dict):
            for candidate in (language, "en", *names):
                name = names.get(candidate)
                if isinstance(name, str) and name.strip():
                    return name.strip()
        message = f"tier-name-{key}"
        named = self._text(language, message)
        # Tiers a marketer made up have no translation: their key is their name.
        return str(key).replace("_", " ").title() if named == message else named


def _badge_earned(texts: NoticeTexts, payload: dict[str, Any], language: str) -> list[Reply]:
    return [
        Reply(
            texts._text(
                language,
                "notice-badge-earned",
                emoji=str(payload.get("emoji") or "🏅"),
                title=_localized(payload.get("title"), language) or str(payload.get("badge") or ""),
                description=_localized(payload.get("description"), language),
            )
        )
    ]


def _streak_reminder(texts: NoticeTexts, payload: dict[str, Any], language: str) -> list[Reply]:
    action = "purchase" if payload.get("action") == "purchase" else "checkin"
    period = "week" if payload.get("period") == "week" else "day"
    count = _int(payload.get("current"))
    return [
        Reply(
            texts._text(
                language,
                f"notice-streak-{action}-{period}",
                streak=texts._text(language, f"streak-{period}s", count=count),
            )
        )
    ]


def _points_returned(texts: NoticeTexts, payload: dict[str, Any], language: str) -> list[Reply]:
    lines = [
        texts._text(
            language,
            "notice-points-returned",
            points=texts._points(language, payload.get("points")),
            balance=texts._points(language, payload.get("balance")),
        )
    ]
    if _int(payload.get("expired")) > 0:
        lines.append(
            texts._text(
                language,
                "notice-points-returned-expired",
                expired=texts._points(language, payload.get("expired")),
            )
        )
    return [Reply("\n".join(lines))]


def _coupon_use_cancelled(
    texts: NoticeTexts, payload: dict[str, Any], language: str
) -> list[Reply]:
    code = str(payload.get("code") or "")
    if not payload.get("restored"):
        return [Reply(texts._text(language, "notice-coupon-not-restored", code=code))]
    lines = [texts._text(language, "notice-coupon-restored", code=code)]
    until = _date(payload.get("valid_until"))
    if until is not None:
        lines.append(
            texts._text(
                language, "notice-coupon-valid-until", date=texts.texts.date(language, until)
            )
        )
    return [Reply("\n".join(lines))]


def _localized(value: Any, language: str) -> str:
    """A marketer's text as the payload keeps it: one text, or {language: text} looked up by
    `text_in`. The payload is stored JSON: entries that are not text, or blank, are left out."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        texts = {
            str(code): text
            for code, text in value.items()
            if isinstance(text, str) and text.strip()
        }
        return text_in(texts, language)
    return ""


_RENDERERS: dict[NoticeKind, Callable[[NoticeTexts, dict[str, Any], str], list[Reply]]] = {
    NoticeKind.POINTS_EARNED: NoticeTexts._points_earned,
    NoticeKind.POINTS_SPENT: NoticeTexts._points_spent,
    NoticeKind.COUPON_RECEIVED: NoticeTexts._coupon_received,
    NoticeKind.TIER_CHANGED: NoticeTexts._tier_changed,
    NoticeKind.POINTS_EXPIRING: NoticeTexts._points_expiring,
    NoticeKind.POINTS_EXPIRED: NoticeTexts._points_expired,
    NoticeKind.COUPON_EXPIRING: NoticeTexts._coupon_expiring,
    NoticeKind.BIRTHDAY: NoticeTexts._birthday,
    NoticeKind.QUEST_STEP_DONE: NoticeTexts._quest_step_done,
    NoticeKind.QUEST_COMPLETED: NoticeTexts._quest_completed,
    NoticeKind.QUEST_PROOF_REVIEWED: NoticeTexts._quest_proof_reviewed,
    NoticeKind.CONTEST_WON: NoticeTexts._contest_won,
    NoticeKind.BADGE_EARNED: _badge_earned,
    NoticeKind.STREAK_REMINDER: _streak_reminder,
    NoticeKind.POINTS_RETURNED: _points_returned,
    NoticeKind.COUPON_USE_CANCELLED: _coupon_use_cancelled,
    NoticeKind.POINTS_ADJUSTED: NoticeTexts._points_adjusted,
    NoticeKind.COUPON_VOIDED: NoticeTexts._coupon_voided,
}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    """An ISO date or datetime from a payload; a datetime counts by its (UTC) calendar day."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.date()


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _safe(code: str) -> str:
    return "".join(char for char in code if char.isalnum() or char in "-_") or "code"
