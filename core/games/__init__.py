"""Games: quests, badges, streaks, leaderboards and contests, driven by the other contexts'
events."""
