"""Games: quests, badges, streaks, leaderboards and contests, driven by other contexts' events."""
