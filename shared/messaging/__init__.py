"""Events and how they travel: their schema, publishing (outbox, Celery's wire format on
Redis), the Celery application, dead letters and webhooks."""
