# One image for every process (web, Celery workers, beat, Flower, migrate);
# docker-compose.yml picks the command. Default: the Procfile's `web` line.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=api.settings \
    BIND_ADDRESS=0.0.0.0

# Fixed uid so volume ownership and runAsNonRoot policies are predictable.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
# psycopg[binary] ships its own libpq, so no compiler or libpq-dev is needed.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

# The code stays root-owned (read-only to the app); only var/ is writable, because the
# settings create it and beat keeps var/celerybeat-schedule there.
COPY . .
RUN mkdir -p /app/var && chown app:app /app/var

USER 10001:10001

EXPOSE 8000

CMD ["gunicorn", "api.wsgi", "--config", "api/gunicorn_conf.py"]
