"""The peers measured against this service (dj-rest-auth and djoser), served as one Django
project on top of our settings: same gunicorn configuration, database and SMTP sink.

Install them with the ``bench`` extra (``requirements-bench.lock``), migrate with
``DJANGO_SETTINGS_MODULE=bench.peers.settings``, and serve ``bench.peers.wsgi``.
"""
