"""The main menu and its sub-menus: one module per feature, each registering its routes."""
