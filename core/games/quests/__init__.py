"""Quests: tasks of several steps a member joins and completes for a reward, once per period."""
