"""Leaderboards: per period (week, month) and metric (points from purchases, friends
qualified, quests completed), live in the transaction of what scored, with a member's rank
read from a counted tree at a cost that does not grow with the number of members."""
