"""Every operator command (credit, coupons, rules, jobs, run ...), registered the same way:
a `Command` (command.py) listed in registry.py. Refusals become exit statuses in errors.py."""
