"""Replies built from texts in `locales/`: menus, the program's rules, history pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from babel.dates import get_timezone_location

from core.ledger.entries import Entry, HistoryPage
from core.ledger.expiry import Upcoming
from core.members.accounts import IdentityKey, Profile
from core.rules.book import ProgramRules
from core.shared.cards import display
from core.tiers.tiers import TierStatus
from handlers import actions
from handlers.messages import Button, Layout, Reply
from handlers.render.i18n import Translator
from handlers.routing import Action

# How stale the rules shown to members (not the ones points are posted by) may be, seconds.
RULES_SHOWN_MAX_AGE = 10.0
# The event bonuses the rules name to members: kinds a member knows what to do for. Others
# (a shop's own integrations) are paid all the same, but have no wording of ours.
RULES_EVENT_KINDS = ("review", "survey")

# The zones offered in the chat (the shops' markets), west to east; at most 10 fit VK's
# inline keyboard. A member elsewhere keeps the program's zone.
TIME_ZONES = (
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Asia/Tehran",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Almaty",
    "Asia/Novosibirsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Vladivostok",
)


def tail(identity: IdentityKey) -> str:
    """The end of an account id: enough to tell two accounts apart, not to reveal them."""
    return identity.external_id[-4:]


def _unlink(identity: IdentityKey) -> actions.Unlink:
    return actions.Unlink(identity.channel, identity.external_id)


def button(label: str, action: Action, *, request_contact: bool = False) -> Button:
    return Button(label, action.encode(), request_contact=request_contact)


class Views:
    def __init__(self, texts: Translator) -> None:
        self.texts = texts

    def t(self, language: str, key: str, /, **args: object) -> str:
        return self.texts.text(language, key, **args)

    def main_menu(self, language: str, member: Profile, text: str) -> Reply:
        t = self.texts.text
        marketing = (
            button(t(language, "menu-marketing-off"), actions.MarketingOff())
            if member.marketing_opt_in
            else button(t(language, "menu-marketing-on"), actions.MarketingOn())
        )
        return Reply(
            text=text,
            layout=Layout.MENU,
            buttons=(
                (
                    button(t(language, "menu-balance"), actions.Balance()),
                    button(t(language, "menu-card"), actions.Card()),
                ),
                (
                    button(t(language, "menu-coupons"), actions.Coupons()),
                    button(t(language, "menu-rewards"), actions.Rewards()),
                ),
                (
                    button(t(language, "menu-invite"), actions.Invite()),
                    button(t(language, "menu-games"), actions.Games()),
                ),
                (
                    button(t(language, "menu-history"), actions.History()),
                    button(t(language, "menu-help"), actions.Help()),
                ),
                (button(t(language, "menu-profile"), actions.Profile()), marketing),
                (
                    button(t(language, "menu-link"), actions.Messengers()),
                    button(t(language, "menu-privacy"), actions.Privacy()),
                ),
            ),
        )

    def language_picker(
        self,
        language: str,
        text: str,
        *,
        replaces_origin: bool = False,
        with_time_zone: bool = False,
    ) -> Reply:
        buttons = tuple(
            (
                button(
                    ("✓ " if code == language else "") + self.t(code, "language-name"),
                    actions.ChooseLanguage(code),
                ),
            )
            for code in self.texts.languages
        )
        if with_time_zone:
            buttons += ((button(self.t(language, "menu-timezone"), actions.TimeZone()),),)
        return Reply(text=text, buttons=buttons, replaces_origin=replaces_origin)

    def time_zone_name(self, language: str, zone: str, now: datetime) -> str:
        """ "Москва (UTC+3)": the city in the member's language and today's offset."""
        city = get_timezone_location(zone, locale=self.texts.locale(language), return_city=True)
        offset = now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        hours, rest = divmod(abs(minutes), 60)
        return f"{city} (UTC{sign}{hours}{f':{rest:02d}' if rest else ''})"

    def time_zone_picker(self, language: str, current: str, now: datetime) -> Reply:
        choices = [
            button(
                ("✓ " if zone == current else "") + self.time_zone_name(language, zone, now),
                actions.ChooseTimeZone(zone),
            )
            for zone in TIME_ZONES
        ]
        rows = tuple(tuple(choices[start : start + 2]) for start in range(0, len(choices), 2))
        text = self.t(
            language, "time-zone-choose", zone=self.time_zone_name(language, current, now)
        )
        return Reply(text=text, buttons=rows)

    def rules(self, language: str, rules: ProgramRules, *, now: datetime | None = None) -> str:
        """The program's rules; with `now`, also the promotions running at that moment."""
        points = self.texts.points
        lines = []
        if rules.earn_rate > 0:
            lines.append(
                self.t(
                    language,
                    "rules-earn",
                    points=points(language, 1),
                    spend=self.texts.money(language, rules.spend_for_one_point(), rules.currency),
                )
            )
        else:
            lines.append(self.t(language, "rules-no-earn"))
        lines.append(
            self.t(
                language,
                "rules-value",
                points=points(language, 1),
                worth=self.texts.money(language, rules.worth(1), rules.currency),
            )
        )
        if rules.max_points_share < 1:
            share = self.texts.percent(language, rules.max_points_share)
            lines.append(self.t(language, "rules-share", share=share))
        if rules.welcome_bonus > 0:
            lines.append(
                self.t(language, "rules-welcome", bonus=points(language, rules.welcome_bonus))
            )
        if rules.points_ttl_days > 0:
            lines.append(self.t(language, "rules-expiry", days=rules.points_ttl_days))
        lines.extend(self._bonus_rules(language, rules))
        lines.extend(self._tier_rules(language, rules))
        if now is not None:
            lines.extend(self._promotion_rules(language, rules, now))
        return "\n".join(lines)

    def _bonus_rules(self, language: str, rules: ProgramRules) -> list[str]:
        """The bonuses besides purchases that the shop gives: only those it has set up."""
        points = self.texts.points
        lines = []
        if rules.referral_referrer_bonus > 0 or rules.referral_friend_bonus > 0:
            lines.append(
                self.t(
                    language,
                    "rules-referral",
                    qualifies=self.t(language, f"invite-qualifies-{rules.referral_qualifies_on}"),
                    referrer=points(language, rules.referral_referrer_bonus),
                    friend=points(language, rules.referral_friend_bonus),
                )
            )
        birthday = points(language, rules.birthday_bonus)
        if rules.birthday_bonus > 0 and rules.birthday_coupon:
            lines.append(self.t(language, "rules-birthday-coupon", bonus=birthday))
        elif rules.birthday_bonus > 0:
            lines.append(self.t(language, "rules-birthday", bonus=birthday))
        elif rules.birthday_coupon:
            lines.append(self.t(language, "rules-birthday-coupon-only"))
        for kind in RULES_EVENT_KINDS:
            bonus = rules.event_bonus(kind)
            if bonus is not None and bonus.points > 0:
                lines.append(
                    self.t(language, f"rules-event-{kind}", points=points(language, bonus.points))
                )
        return lines

    def _tier_rules(self, language: str, rules: ProgramRules) -> list[str]:
        if not rules.tiers:
            return []
        lines = [self.t(language, f"rules-tiers-{rules.tier_metric}", days=rules.tier_window_days)]
        for tier in rules.tiers:
            name = tier.name.get(language)
            threshold = self._metric_amount(language, rules, tier.threshold)
            if tier.earn_multiplier == 1:
                line = self.t(language, "rules-tier-line-plain", tier=name, threshold=threshold)
            else:
                line = self.t(
                    language,
                    "rules-tier-line",
                    tier=name,
                    threshold=threshold,
                    multiplier=self.texts.number(language, tier.earn_multiplier.normalize()),
                )
            if tier.birthday_bonus is not None:
                gift = self.texts.points(language, tier.birthday_bonus)
                line += self.t(language, "rules-tier-birthday", bonus=gift)
            lines.append(line)
        return lines

    def _promotion_rules(self, language: str, rules: ProgramRules, now: datetime) -> list[str]:
        lines = []
        for promotion in rules.active_promotions(now):
            multiplier = self.texts.number(language, promotion.multiplier.normalize())
            name = promotion.name.get(language)
            if promotion.ends is None:
                lines.append(
                    self.t(language, "rules-promotion", promotion=name, multiplier=multiplier)
                )
                continue
            # `ends` is exclusive: a week ending at midnight lasts until the day before.
            last_moment = promotion.ends.astimezone(ZoneInfo(rules.time_zone)) - timedelta(
                microseconds=1
            )
            lines.append(
                self.t(
                    language,
                    "rules-promotion-until",
                    promotion=name,
                    multiplier=multiplier,
                    date=self.texts.date(language, last_moment.date()),
                )
            )
        return lines

    def _metric_amount(self, language: str, rules: ProgramRules, amount: Decimal) -> str:
        """An amount of the tier metric: money for "spend", points for "points"."""
        if rules.tier_metric == "points":
            whole = int(amount.to_integral_value(rounding=ROUND_CEILING))
            return self.texts.points(language, whole)
        return self.texts.money(language, amount, rules.currency)

    def tier(self, language: str, status: TierStatus, rules: ProgramRules) -> list[str]:
        """The member's tier, its perks, and what it takes to reach the next one."""
        lines = []
        if status.tier is not None:
            lines.append(self.t(language, "tier-current", tier=status.tier.name.get(language)))
            if status.tier.perks is not None:
                lines.append(self.t(language, "tier-perks", perks=status.tier.perks.get(language)))
            if status.grace_until is not None and status.to_keep:
                lines.append(
                    self.t(
                        language,
                        f"tier-keep-{status.metric}",
                        tier=status.tier.name.get(language),
                        amount=self._metric_amount(language, rules, status.to_keep),
                        date=self.texts.date(
                            language,
                            status.grace_until.astimezone(ZoneInfo(rules.time_zone)).date(),
                        ),
                    )
                )
        if status.next_tier is not None and status.to_next:
            lines.append(
                self.t(
                    language,
                    f"tier-next-{status.metric}",
                    tier=status.next_tier.name.get(language),
                    amount=self._metric_amount(language, rules, status.to_next),
                )
            )
        elif status.tier is not None and status.next_tier is None:
            lines.append(self.t(language, "tier-top"))
        return lines

    def balance(
        self,
        language: str,
        member: Profile,
        rules: ProgramRules,
        tier: TierStatus | None = None,
        expiring: Upcoming | None = None,
    ) -> str:
        balance = member.balance
        text = self.t(language, "balance", points=self.texts.points(language, balance))
        if balance > 0:
            worth = self.texts.money(language, rules.worth(balance), rules.currency)
            text += "\n" + self.t(language, "balance-worth", worth=worth)
        if expiring is not None and expiring.points > 0:
            zone = ZoneInfo(member.time_zone or rules.time_zone)
            local = expiring.expires_at.astimezone(zone).date()
            text += "\n" + self.t(
                language,
                "balance-expiring",
                points=self.texts.points(language, expiring.points),
                date=self.texts.date(language, local, style="long"),
            )
        if member.debt > 0:
            text += "\n" + self.t(
                language, "balance-debt", points=self.texts.points(language, member.debt)
            )
        if tier is not None:
            text += "".join("\n" + line for line in self.tier(language, tier, rules))
        return text

    def history(
        self,
        language: str,
        page: HistoryPage,
        *,
        replaces_origin: bool,
        references: Mapping[int, str] | None = None,
    ) -> Reply:
        """A page of History; `references`: what to show for an entry (by id) instead of
        its stored reference (a quest's title in the member's language)."""
        if not page.entries:
            return Reply(text=self.t(language, "history-empty"), replaces_origin=replaces_origin)
        shown = references or {}
        lines = [self.t(language, "history-title", page=page.page, pages=page.pages)]
        lines.extend(
            self._history_line(language, entry, shown.get(entry.id)) for entry in page.entries
        )
        navigation = []
        if page.page > 1:
            navigation.append(
                button(self.t(language, "history-newer"), actions.HistoryPage(page.page - 1))
            )
        if page.page < page.pages:
            navigation.append(
                button(self.t(language, "history-older"), actions.HistoryPage(page.page + 1))
            )
        return Reply(
            text="\n".join(lines),
            buttons=(tuple(navigation),) if navigation else (),
            replaces_origin=replaces_origin,
        )

    def _history_line(self, language: str, entry: Entry, reference: str | None = None) -> str:
        reason_key = f"reason-{entry.reason}"
        if self.t(language, reason_key, reference="") == reason_key:
            reason_key = "reason-other"
        return self.t(
            language,
            "history-line",
            date=self.texts.date(language, entry.created_at.date()),
            sign="+" if entry.points > 0 else "−",
            amount=self.texts.number(language, abs(entry.points)),
            reason=self.t(
                language, reason_key, reference=reference or entry.reference or ""
            ).strip(),
        )

    def messengers(
        self,
        language: str,
        card_code: str,
        identities: list[IdentityKey],
        current: IdentityKey,
        *,
        notice: str = "",
    ) -> Reply:
        lines = [notice] if notice else []
        lines.append(self.t(language, "messengers-title", card=display(card_code)))
        lines.extend(
            self.t(
                language,
                "messengers-line",
                channel=self.channel(language, identity),
                tail=tail(identity),
            )
            for identity in identities
        )
        lines.append(self.t(language, "messengers-hint"))
        rows = [(button(self.t(language, "messengers-get-code"), actions.LinkCode()),)]
        if len(identities) > 1:
            rows.extend(
                (
                    button(
                        self.t(
                            language,
                            "messengers-unlink",
                            channel=self.channel(language, identity),
                            tail=tail(identity),
                        ),
                        _unlink(identity),
                    ),
                )
                for identity in identities
                # An id too long for a button (the database allows 64 characters) is listed
                # but offers no button: a longer one would make Telegram refuse the keyboard.
                if identity != current
                and actions.Unlink(identity.channel, identity.external_id).fits()
            )
        return Reply(text="\n".join(lines), buttons=tuple(rows))

    def channel(self, language: str, identity: IdentityKey) -> str:
        name = self.t(language, f"channel-{identity.channel}")
        return identity.channel if name == f"channel-{identity.channel}" else name

    def card_caption(self, language: str, card_code: str) -> str:
        return self.t(language, "card-caption", code=display(card_code))
