"""Infrastructure every part uses: configuration from the environment, the Redis client,
rate limits, secrets kept out of logs, one-statement inserts."""
