"""Who holds a card or a member's things today.

Merging keeps the absorbed member's row (pointing at the survivor with `merged_into_id`), so
every question of ownership goes through these statements instead of reading `id` alone.
They import only the models: every context may ask them.
"""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select

from core.db.models import Member


def owner_of_card(code: str) -> Select[int]:
    """The member a card code belongs to today: after a merge, the surviving member."""
    return select(func.coalesce(Member.merged_into_id, Member.id)).where(Member.card_code == code)


def owner_of_referral(code: str) -> Select[int]:
    """The member a referral code brings friends to today: after a merge, the survivor."""
    return select(func.coalesce(Member.merged_into_id, Member.id)).where(
        Member.referral_code == code
    )


def owner_of(member_id: int) -> Select[int]:
    """The member that `member_id` is today: itself, or the member it was merged into."""
    return select(func.coalesce(Member.merged_into_id, Member.id)).where(Member.id == member_id)


def member_ids_of(member_id: int) -> Select[int]:
    """A member and every member merged into it: what those held (purchases, coupons, claims,
    events) counts for the survivor now."""
    return select(Member.id).where(or_(Member.id == member_id, Member.merged_into_id == member_id))
