"""The marketers' web will live here: rules, campaigns, broadcasts to segments, and the
dashboard of what works."""
