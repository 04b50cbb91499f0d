"""Create the notes table, or adopt the one the Go app's ORM made.

Adopting keeps every row (soft-deleted ones stay deleted), converts the table
to utf8mb4 so that emoji fit (gorm's connection asked for 3-byte utf8, and the
workshop's mysql:5.6 defaulted to latin1), and widens the note column.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from awsme.notes.schema import NOTE_COLUMN_LENGTH, NoteId, Timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LIVE_NOTES_INDEX = "idx_notes_deleted_at_id"


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if "notes" in inspector.get_table_names():
        _adopt(bind.dialect.name)
    else:
        _create()
    existing = {index["name"] for index in sa.inspect(bind).get_indexes("notes")}
    if LIVE_NOTES_INDEX not in existing:
        # Serves both "newest live notes" and keyset pages: WHERE deleted_at IS NULL
        # AND id < cursor ORDER BY id DESC, at the same cost at any table size.
        op.create_index(LIVE_NOTES_INDEX, "notes", ["deleted_at", "id"])


def _create() -> None:
    null = sa.text("NULL")
    op.create_table(
        "notes",
        sa.Column("id", NoteId, primary_key=True, autoincrement=True),
        sa.Column("created_at", Timestamp, nullable=True, server_default=null),
        sa.Column("updated_at", Timestamp, nullable=True, server_default=null),
        sa.Column("deleted_at", Timestamp, nullable=True, server_default=null),
        sa.Column("note", sa.String(NOTE_COLUMN_LENGTH), nullable=True),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )


def _adopt(dialect: str) -> None:
    if dialect == "mysql":
        database = op.get_bind().exec_driver_sql("SELECT DATABASE()").scalar()
        op.execute(f"ALTER DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        # CONVERT TO re-encodes every row's text (latin1 or utf8 to utf8mb4).
        op.execute("ALTER TABLE notes CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        op.execute(f"ALTER TABLE notes MODIFY note VARCHAR({NOTE_COLUMN_LENGTH}) NULL")
    elif dialect == "postgresql":
        op.alter_column("notes", "note", type_=sa.String(NOTE_COLUMN_LENGTH))
    # SQLite does not enforce VARCHAR lengths: nothing to widen.


def downgrade() -> None:
    # The notes are the users' data: going back drops only what this revision added.
    op.drop_index(LIVE_NOTES_INDEX, table_name="notes")
