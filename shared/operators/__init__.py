"""What operators do to many accounts at once: the admin API's users, bulk import, forced
resets, and the API keys that allow them."""
