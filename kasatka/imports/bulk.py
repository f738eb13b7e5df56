"""Inserting many rows fast: one `executemany` per table and batch, ids reserved up front.

Django's `bulk_create` prepares every value of every field through the field (7 µs each
on this machine), which for a million contacts with their addresses and consents is most
of an import. Here each column's default and each distinct non-plain value (the batch's
one timestamp) is prepared once through its field, and plain values (text, numbers, None)
go to the driver as they are. The ids of new contacts are reserved before the insert so
that their addresses can point at them: on SQLite inside the batch's transaction, which
holds the database's write lock (`BEGIN IMMEDIATE`), so nobody else can take them; on
PostgreSQL from the table's sequence. Any other database uses `bulk_create`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from operator import itemgetter
from typing import Any

from django.db import connection, models
from django.utils import timezone

# Fields whose python values the drivers take as they are.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField,
                 models.BooleanField, models.ForeignKey, models.AutoField)


def reserve_ids(model: type[models.Model], count: int) -> list[int] | None:
    """`count` new primary keys for `model`, or None where this database cannot say."""
    if count == 0:
        return []
    table = model._meta.db_table
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            if not connection.in_atomic_block:
                return None
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            found = cursor.fetchone()
            cursor.execute(f"SELECT MAX(id) FROM {quoted}")
            highest = max(found[0] if found else 0, cursor.fetchone()[0] or 0)
            return list(range(highest + 1, highest + 1 + count))
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
    return None


def insert(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows given as {attname: python value}, every row with the same keys; missing
    fields take their defaults (`auto_now` ones one moment for the whole batch). No
    signals, no save()."""
    if not rows:
        return
    if connection.vendor not in ("sqlite", "postgresql"):
        model._default_manager.bulk_create([model(**row) for row in rows], batch_size=500)
        return
    keys = set(rows[0])
    given = [f for f in model._meta.concrete_fields if f.attname in keys]
    missing = [f for f in model._meta.concrete_fields
               if f.attname not in keys and not f.primary_key]
    moment = timezone.now()
    constant = tuple(
        f.get_db_prep_save(
            moment if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            else f.get_default(),
            connection,
        )
        for f in missing
    )
    take = itemgetter(*[f.attname for f in given])
    # Plain values (text, numbers, ids, None) go as they are; the others (timestamps,
    # decimals) through their field, each distinct value once.
    to_prepare = [(i, f) for i, f in enumerate(given) if not isinstance(f, _PLAIN_FIELDS)]
    prepared: dict[tuple[int, Hashable], Any] = {}
    values: list[tuple[Any, ...]] = []
    for row in rows:
        taken = take(row)
        record = list(taken) if len(given) > 1 else [taken]
        for i, field in to_prepare:
            key = (i, record[i])
            if key not in prepared:
                prepared[key] = field.get_db_prep_save(record[i], connection)
            record[i] = prepared[key]
        values.append((*record, *constant))
    fields = given + missing
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)
