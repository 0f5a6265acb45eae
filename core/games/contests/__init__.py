"""Contests: giveaways drawn verifiably among members' entries, and leaderboard contests (the
top N of a period win, ranked by the leaderboards' engine)."""
