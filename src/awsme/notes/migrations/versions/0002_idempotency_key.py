"""Idempotency keys: a nullable column and a unique index, so that a write retried
with the same key is stored once, whichever replica receives each attempt.

Adopts whatever table it finds: the Go app's (once 0001 adopted it), 0001's own,
or one where an interrupted run already added the column or the index. Rows
without a key keep NULL, which no unique index counts as a duplicate.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from awsme.notes.schema import IDEMPOTENCY_KEY_INDEX, IDEMPOTENCY_KEY_LENGTH

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMN = "idempotency_key"


def upgrade() -> None:
    bind = op.get_bind()
    columns = {column["name"] for column in sa.inspect(bind).get_columns("notes")}
    # The key is ASCII; in MySQL a binary ASCII column keeps the index small
    # (utf8mb4 would reserve 4 bytes a character) and compares keys exactly, where
    # the table's utf8mb4_unicode_ci would take "abc" and "ABC" for one key.
    mysql_type = mysql.VARCHAR(IDEMPOTENCY_KEY_LENGTH, charset="ascii", collation="ascii_bin")
    if COLUMN not in columns:
        key_type = sa.String(IDEMPOTENCY_KEY_LENGTH).with_variant(mysql_type, "mysql")
        op.add_column("notes", sa.Column(COLUMN, key_type, nullable=True))
    elif bind.dialect.name == "mysql":
        op.alter_column("notes", COLUMN, type_=mysql_type, existing_nullable=True)
    inspector = sa.inspect(bind)
    indexes = {index["name"] for index in inspector.get_indexes("notes")}
    # MySQL lists a unique index among the indexes; PostgreSQL may show it as a
    # constraint only; look at both so that a second run adds nothing.
    indexes |= {c["name"] for c in inspector.get_unique_constraints("notes") if c.get("name")}
    if IDEMPOTENCY_KEY_INDEX not in indexes:
        op.create_index(IDEMPOTENCY_KEY_INDEX, "notes", [COLUMN], unique=True)


def downgrade() -> None:
    op.drop_index(IDEMPOTENCY_KEY_INDEX, table_name="notes")
    with op.batch_alter_table("notes") as batch:
        batch.drop_column(COLUMN)
