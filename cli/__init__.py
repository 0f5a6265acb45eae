"""Operator commands that main.py's CLI wires in (coupons, rewards, earning and tiers)."""
