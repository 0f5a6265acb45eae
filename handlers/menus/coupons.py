"""A member's coupons in the chat: what each gives, until when, and its QR to show at the till."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_percent

from core.members.accounts import Profile
from core.offers.campaigns import CouponKind
from core.offers.issuing import IssuedCoupon
from core.program import LoyaltyProgram
from core.rules.book import ProgramRules
from core.shared import qr
from handlers import actions
from handlers.messages import Image, Reply
from handlers.render.views import RULES_SHOWN_MAX_AGE, Views, button
from handlers.routing import Router, Turn

# Telegram cuts photo captions at 1024 characters: a longer coupon text goes as a message of
# its own, and the QR follows with the code alone.
CAPTION_LIMIT = 1000
# Coupons sent at once; the rest wait until these are used or expire.
MAX_COUPONS_SHOWN = 10
MAX_TERMS_SHOWN = 400


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class CouponsMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def t(self, language: str, key: str, /, **args: object) -> str:
        return self._views.t(language, key, **args)

    def register(self, router: Router) -> None:
        router.route(actions.Coupons, self.coupons)
        router.words(actions.Coupons(), "menu-coupons", "words-coupons")
        router.command("coupons", actions.Coupons())

    async def coupons(self, turn: Turn, _action: actions.Coupons) -> list[Reply]:
        return await self.my_coupons(turn.member)

    async def my_coupons(self, member: Profile) -> list[Reply]:
        language = member.language
        active = await self._program.coupons.active_for(member.id)
        if not active:
            return [
                Reply(
                    text=self.t(language, "coupons-empty"),
                    buttons=((button(self.t(language, "menu-rewards"), actions.Rewards()),),),
                )
            ]
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        replies = [Reply(text=self.t(language, "coupons-title", count=len(active)))]
        for coupon in active[:MAX_COUPONS_SHOWN]:
            replies.extend(self.coupon_replies(language, coupon, rules))
        return replies

    def coupon_replies(
        self, language: str, coupon: IssuedCoupon, rules: ProgramRules, *, intro: str = ""
    ) -> list[Reply]:
        """A coupon as its holder gets it: what it gives, until when, terms, and its QR."""
        text = "\n".join(filter(None, [intro, self.coupon_text(language, coupon, rules)]))
        image = Image(png=qr.png(coupon.code), filename=f"coupon-{coupon.code}.png")
        if len(text) <= CAPTION_LIMIT:
            return [Reply(text=text, image=image)]
        return [
            Reply(text=text),
            Reply(text=self.t(language, "coupon-code", code=coupon.code), image=image),
        ]

    def coupon_text(self, language: str, coupon: IssuedCoupon, rules: ProgramRules) -> str:
        money = self._views.texts.money
        lines = [
            self.t(language, "coupon-title", campaign=coupon.campaign),
            self.t(language, "coupon-code", code=coupon.code),
        ]
        if coupon.kind is CouponKind.PERCENT:
            percent = format_percent(
                Decimal(coupon.value or 0) / 100, format="#,##0.##%", locale=language
            )
            lines.append(self.t(language, "coupon-gives-percent", percent=percent))
        elif coupon.kind is CouponKind.FIXED:
            amount = money(language, Decimal(coupon.value or 0), rules.currency)
            lines.append(self.t(language, "coupon-gives-fixed", amount=amount))
        else:
            lines.append(self.t(language, "coupon-gives-free-item", item=coupon.item or ""))
        if coupon.min_order is not None:
            amount = money(language, coupon.min_order, rules.currency)
            lines.append(self.t(language, "coupon-min-order", amount=amount))
        if coupon.valid_until is not None:
            date = self._views.texts.date(language, coupon.valid_until.date())
            lines.append(self.t(language, "coupon-valid-until", date=date))
        else:
            lines.append(self.t(language, "coupon-no-expiry"))
        if coupon.uses_left > 1:
            lines.append(self.t(language, "coupon-uses-left", count=coupon.uses_left))
        if coupon.terms:
            terms = shortened(coupon.terms, MAX_TERMS_SHOWN)
            lines.append(self.t(language, "coupon-terms", terms=terms))
        lines.append(self.t(language, "coupon-show"))
        return "\n".join(lines)
