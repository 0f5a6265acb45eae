"""Contests: giveaways drawn verifiably among members' entries (and, next, leaderboard contests)."""
