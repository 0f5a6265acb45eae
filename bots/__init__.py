"""Channel adapters: a platform's update in, the conversation's replies out. Kept thin."""
