"""One-statement inserts and look-ups for the workers' hot path.

``QuerySet.bulk_create`` wraps even a single row in a transaction, which costs three round
trips to the database (BEGIN, INSERT, COMMIT). The two rows every email writes (the reset nonce
and the processed-event mark) need no transaction around them: ``INSERT ... ON CONFLICT`` is
atomic on its own, so in autocommit mode it is one round trip. PostgreSQL and SQLite both speak
this syntax.
"""

from __future__ import annotations

from django.db import connections, router
from django.db.models import Model
from django.utils import timezone


def upsert(model: type[Model], values: dict, *, conflict: list[str], update: list[str]) -> None:
    """Insert one row of ``model``; if one exists with the same ``conflict`` fields, overwrite
    its ``update`` fields (or leave it as it is when ``update`` is empty). Date fields with
    ``auto_now_add`` are set on insert and those with ``auto_now`` on insert and update, as
    ``save()`` does."""
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    values, update = dict(values), list(update)
    now = timezone.now()
    for field in meta.concrete_fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values.setdefault(field.name, now)
            if field.auto_now and update and field.name not in update:
                update.append(field.name)

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    columns = ", ".join(column(name) for name in values)
    params = [meta.get_field(name).get_db_prep_save(value, connection=connection)
              for name, value in values.items()]  # fmt: skip
    target = ", ".join(column(name) for name in conflict)
    if update:
        assignments = ", ".join(f"{column(name)} = excluded.{column(name)}" for name in update)
        action = f"DO UPDATE SET {assignments}"
    else:
        action = "DO NOTHING"
    placeholders = ", ".join(["%s"] * len(params))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608 - names from model meta, quoted
        f"ON CONFLICT ({target}) {action}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def row_exists(model: type[Model], **values) -> bool:
    """Whether a row of ``model`` has these field values: ``filter(**values).exists()`` in one
    plain statement. The ORM builds and compiles the same query anew on every call, which cost
    the email worker more CPU per event than the round trip itself."""
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [meta.get_field(name) for name in values]
    where = " AND ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_value(value, connection=connection)
              for field, value in zip(fields, values.values(), strict=True)]  # fmt: skip
    sql = f"SELECT 1 FROM {quote(meta.db_table)} WHERE {where} LIMIT 1"  # noqa: S608 - names from model meta, quoted
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None
