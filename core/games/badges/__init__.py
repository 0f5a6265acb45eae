"""Badges: defined as data (conditions on events), awarded once, shown on a shelf."""
