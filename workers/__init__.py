"""Celery workers: one command per queue (``email``, ``security``), handlers in ``handlers/``."""
