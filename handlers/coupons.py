"""A member's coupons and the rewards catalogue in the chat: browse, claim, show at the till.

Button actions stay short (Telegram allows 64 bytes of callback data, VK's payloads are
small too): `reward:<id>`, `reward:claim:<id>`, `reward:yes:<id>:<nonce>`, `rewards:<page>`.
The nonce is drawn when the confirmation is shown, so pressing "Yes" twice (or a retried
update) replays the same claim instead of buying the reward twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from decimal import Decimal
from pathlib import Path

from babel.numbers import format_percent

from core.members.accounts import Profile
from core.offers.coupons import CouponKind, IssuedCoupon
from core.offers.rewards import RewardItem
from core.program import LoyaltyProgram
from core.rules.book import ProgramRules
from core.shared import qr
from core.shared.errors import RewardNotFound, RewardRefused
from handlers import views
from handlers.messages import Button, Image, Reply
from handlers.views import RULES_SHOWN_MAX_AGE, Views

log = logging.getLogger(__name__)

# Telegram cuts photo captions at 1024 characters: a longer coupon text goes as a message of
# its own, and the QR follows with the code alone.
CAPTION_LIMIT = 1000
# Coupons sent at once; the rest wait until these are used or expire.
MAX_COUPONS_SHOWN = 10
# One reward per row plus a row to page: VK's inline keyboards hold 6 rows.
REWARDS_PER_PAGE = 5
MAX_TERMS_SHOWN = 400
MAX_PICTURE_BYTES = 5 * 1024 * 1024
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _read_picture(picture: str) -> bytes | None:
    """A local picture file's bytes, if it is one we can send; URLs and the rest: None."""
    if "://" in picture:
        return None
    path = Path(picture)
    try:
        if path.suffix.lower() not in PICTURE_SUFFIXES or not path.is_file():
            return None
        if path.stat().st_size > MAX_PICTURE_BYTES:
            return None
        return path.read_bytes()
    except OSError as error:
        log.warning("reward picture %s cannot be read: %s", picture, error)
        return None


class CouponsMenu:
    def __init__(self, program: LoyaltyProgram, views: Views) -> None:
        self._program = program
        self._views = views

    def t(self, language: str, key: str, /, **args: object) -> str:
        return self._views.t(language, key, **args)

    async def handle(self, member: Profile, action: str) -> list[Reply]:
        if action == views.COUPONS:
            return await self.my_coupons(member)
        if action == views.REWARDS:
            return [await self.catalogue(member, 1, replaces_origin=False)]
        if action.startswith(views.REWARDS_PAGE):
            page = action.removeprefix(views.REWARDS_PAGE)
            return [await self.catalogue(member, int(page) if page.isdigit() else 1)]
        if action.startswith(views.REWARD_CONFIRMED):
            reward_id, _, nonce = action.removeprefix(views.REWARD_CONFIRMED).partition(":")
            return await self._claim(member, reward_id, nonce)
        if action.startswith(views.REWARD_CLAIM):
            return [await self._confirm(member, action.removeprefix(views.REWARD_CLAIM))]
        return [await self._reward(member, action.removeprefix(views.REWARD))]

    # ------------------------------------------------------------------ my coupons
    async def my_coupons(self, member: Profile) -> list[Reply]:
        language = member.language
        active = await self._program.coupons.active_for(member.id)
        if not active:
            return [
                Reply(
                    text=self.t(language, "coupons-empty"),
                    buttons=((Button(self.t(language, "menu-rewards"), views.REWARDS),),),
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
            terms = _shortened(coupon.terms, MAX_TERMS_SHOWN)
            lines.append(self.t(language, "coupon-terms", terms=terms))
        lines.append(self.t(language, "coupon-show"))
        return "\n".join(lines)

    # ------------------------------------------------------------------ rewards
    async def catalogue(self, member: Profile, page: int, *, replaces_origin: bool = True) -> Reply:
        language = member.language
        points = self._views.texts.points
        items = await self._program.rewards.catalogue()
        if not items:
            return Reply(text=self.t(language, "rewards-empty"))
        pages = math.ceil(len(items) / REWARDS_PER_PAGE)
        page = min(max(1, page), pages)
        shown = items[(page - 1) * REWARDS_PER_PAGE : page * REWARDS_PER_PAGE]
        lines = [self.t(language, "rewards-title", points=points(language, member.balance))]
        lines.extend(
            self.t(
                language,
                "rewards-line",
                name=item.name,
                cost=points(language, item.cost),
                stock=self._stock(language, item),
            )
            for item in shown
        )
        rows: list[tuple[Button, ...]] = [
            (
                Button(
                    self.t(
                        language, "rewards-button", name=item.name, cost=points(language, item.cost)
                    ),
                    f"{views.REWARD}{item.id}",
                ),
            )
            for item in shown
        ]
        navigation = []
        if page > 1:
            navigation.append(
                Button(self.t(language, "rewards-previous"), f"{views.REWARDS_PAGE}{page - 1}")
            )
        if page < pages:
            navigation.append(
                Button(self.t(language, "rewards-next"), f"{views.REWARDS_PAGE}{page + 1}")
            )
        if navigation:
            rows.append(tuple(navigation))
        return Reply(text="\n".join(lines), buttons=tuple(rows), replaces_origin=replaces_origin)

    def _stock(self, language: str, item: RewardItem) -> str:
        if item.stock is None:
            return self.t(language, "reward-stock-unlimited")
        if item.stock == 0:
            return self.t(language, "reward-out-of-stock")
        return self.t(language, "reward-stock", count=item.stock)

    async def _item(self, raw_id: str) -> RewardItem | None:
        if not raw_id.isdigit():
            return None
        try:
            return await self._program.rewards.get(int(raw_id))
        except RewardNotFound:
            return None

    async def _reward(self, member: Profile, raw_id: str) -> Reply:
        language = member.language
        points = self._views.texts.points
        item = await self._item(raw_id)
        if item is None or not item.active:
            return Reply(text=self.t(language, "reward-gone"))
        lines = [self.t(language, "reward-title", name=item.name)]
        if item.description:
            lines.append(item.description)
        lines.append(
            self.t(
                language,
                "reward-cost",
                cost=points(language, item.cost),
                points=points(language, member.balance),
            )
        )
        lines.append(self._stock(language, item))
        if item.per_member_limit is not None:
            lines.append(self.t(language, "reward-limit", count=item.per_member_limit))
        rows: list[tuple[Button, ...]] = []
        if item.stock != 0:
            label = self.t(language, "reward-claim-button", cost=points(language, item.cost))
            rows.append((Button(label, f"{views.REWARD_CLAIM}{item.id}"),))
        rows.append((Button(self.t(language, "reward-back"), views.REWARDS),))
        image = None
        if item.picture:
            content = await asyncio.to_thread(_read_picture, item.picture)
            if content is not None:
                image = Image(png=content, filename=Path(item.picture).name)
        text = "\n".join(lines)
        if image is not None and len(text) > CAPTION_LIMIT:
            text = _shortened(text, CAPTION_LIMIT)
        return Reply(text=text, buttons=tuple(rows), image=image)

    async def _confirm(self, member: Profile, raw_id: str) -> Reply:
        language = member.language
        points = self._views.texts.points
        item = await self._item(raw_id)
        if item is None or not item.active:
            return Reply(text=self.t(language, "reward-gone"))
        if member.balance < item.cost:
            return self._not_enough(language, item, item.cost - member.balance)
        nonce = secrets.token_hex(4)
        return Reply(
            text=self.t(
                language,
                "reward-confirm",
                name=item.name,
                cost=points(language, item.cost),
                points=points(language, member.balance - item.cost),
            ),
            buttons=(
                (
                    Button(
                        self.t(language, "reward-confirm-yes"),
                        f"{views.REWARD_CONFIRMED}{item.id}:{nonce}",
                    ),
                    Button(self.t(language, "reward-confirm-no"), views.REWARDS),
                ),
            ),
        )

    def _not_enough(self, language: str, item: RewardItem, missing: int) -> Reply:
        points = self._views.texts.points
        return Reply(
            text=self.t(
                language, "reward-not-enough", name=item.name, missing=points(language, missing)
            ),
            buttons=((Button(self.t(language, "reward-back"), views.REWARDS),),),
        )

    async def _claim(self, member: Profile, raw_id: str, nonce: str) -> list[Reply]:
        language = member.language
        item = await self._item(raw_id)
        if item is None or not nonce.isalnum():
            return [Reply(text=self.t(language, "reward-gone"))]
        try:
            claim = await self._program.rewards.claim(
                member.id,
                item.id,
                claim_id=f"chat:{member.id}:{item.id}:{nonce}",
                actor="member",
                # This answer hands the coupon over; a notice would send it a second time.
                notify=False,
            )
        except RewardRefused as refusal:
            if refusal.reason == "not_enough_points":
                return [self._not_enough(language, item, refusal.missing)]
            key = {
                "out_of_stock": "reward-sold-out",
                "limit_reached": "reward-limit-reached",
            }.get(refusal.reason, "reward-gone")
            return [
                Reply(
                    text=self.t(language, key, name=item.name),
                    buttons=((Button(self.t(language, "reward-back"), views.REWARDS),),),
                )
            ]
        rules = await self._program.rules.current(max_age=RULES_SHOWN_MAX_AGE)
        points = self._views.texts.points
        intro = self.t(
            language,
            "reward-claimed",
            name=item.name,
            cost=points(language, claim.points),
            points=points(language, claim.balance),
        )
        return self.coupon_replies(language, claim.coupon, rules, intro=intro)
