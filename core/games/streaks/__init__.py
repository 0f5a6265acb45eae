"""Streaks: consecutive days or weeks of an action (a check-in, a purchase) in the member's
time zone, with a freeze, the best run kept, a reminder before one breaks, and the daily
check-in that feeds the check-in streak (and quests, through `CheckedIn`)."""
