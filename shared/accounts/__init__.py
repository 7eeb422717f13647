"""The account flows and what they guard: resetting and changing a password (links, codes,
the rules a new password must pass), and the sessions and tokens that a change ends."""
