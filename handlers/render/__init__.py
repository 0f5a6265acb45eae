"""How replies look: views, notice texts, the translator, reading what members type."""
