"""The conversation: what a member says, what the core does, what the bot answers.

Channel-neutral: no messenger SDK is imported here; bots/ translate to and from these types.
"""
