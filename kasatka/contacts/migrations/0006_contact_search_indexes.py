"""Indexes for the contact list's search: a name or e-mail prefix without a full scan.

Each database needs its own kind (kasatka.web.contacts builds the matching queries):

- PostgreSQL: `LIKE 'prefix%'` uses a B-tree only with the pattern operator classes (any
  database collation), and the e-mail search is on `lower(value)`.
- SQLite: a prefix is a range `>= 'prefix' AND < next`, which any index on the column
  serves (its BINARY collation orders like the range); the e-mail search is on the
  expression `lower(value)`. The last name is served by the existing (business, last_name,
  first_name) index.

They are written as SQL, not as model indexes, because operator classes on expressions
exist only on PostgreSQL; the model state does not know them, so makemigrations leaves
them alone.
"""

from django.db import migrations

POSTGRESQL = [
    ("contact_last_name_prefix",
     "ON contacts_contact (business_id, last_name varchar_pattern_ops)"),
    ("contact_first_name_prefix",
     "ON contacts_contact (business_id, first_name varchar_pattern_ops)"),
    ("address_email_prefix",
     "ON contacts_address (business_id, kind, lower(value) text_pattern_ops)"),
    # The list, newest first within a business, read in index order.
    ("contact_business_newest", "ON contacts_contact (business_id, id)"),
]
SQLITE = [
    ("contact_first_name_prefix", "ON contacts_contact (business_id, first_name)"),
    ("address_email_prefix", "ON contacts_address (business_id, kind, lower(value))"),
]


def _indexes(vendor):
    return {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor, [])


def create(apps, schema_editor):
    for name, definition in _indexes(schema_editor.connection.vendor):
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")


def drop(apps, schema_editor):
    for name, _definition in _indexes(schema_editor.connection.vendor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0005_suppression_and_double_opt_in")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
