"""The profile quest as joining and 👤 Profile tell it: what is still missing from the
profile and what completing it earns.

The core picks the quest (`Quests.profile_quest`: live, automatic, for the member's audience,
every step a profile step, not yet completed); this module only words it. Completing it is the
quests' own business (the profile change publishes `ProfileChanged`, the quest pays once and
sends its completion notice), so nothing here pays anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.games.quests.definition import Reward
from core.games.quests.service import QuestView, profile_fields
from core.members.accounts import Profile
from core.program import LoyaltyProgram
from handlers.render.views import Views


@dataclass(frozen=True)
class ProfileQuestOffer:
    view: QuestView
    fields: tuple[str, ...]
    # The fields the member has not given yet, in the quest's order.
    missing: tuple[str, ...]


def filled(member: Profile, field: str) -> bool:
    if field == "phone":
        return member.phone is not None
    if field == "birthday":
        return member.birthday is not None
    return bool(member.marketing_opt_in)


async def profile_quest_offer(program: LoyaltyProgram, member: Profile) -> ProfileQuestOffer | None:
    view = await program.quests.profile_quest(member.id)
    if view is None:
        return None
    fields = tuple(profile_fields(view.quest.definition))
    missing = tuple(field for field in fields if not filled(member, field))
    return ProfileQuestOffer(view=view, fields=fields, missing=missing)


def fields_text(views: Views, language: str, fields: tuple[str, ...]) -> str:
    """ "phone", "phone and birthday", "phone, birthday and consent to offers"."""
    names = [views.t(language, f"quest-field-{field}") for field in fields]
    if len(names) < 2:
        return "".join(names)
    return views.t(language, "list-and", first=", ".join(names[:-1]), last=names[-1])


def reward_text(views: Views, language: str, reward: Reward) -> str:
    """ "50 points", "50 points + a coupon"."""
    parts = []
    if reward.points:
        parts.append(views.texts.points(language, reward.points))
    if reward.coupon:
        parts.append(views.t(language, "quest-reward-coupon"))
    if reward.badge:
        parts.append(views.t(language, "quest-reward-badge", badge=reward.badge))
    return " + ".join(parts)
