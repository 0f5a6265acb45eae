"""The members' web cabinet will live here: balance, history, card and coupons in a browser,
for the same member the messengers know."""
