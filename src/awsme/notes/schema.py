"""The `notes` table as the Go app's ORM (gorm v1) laid it out, so that either app
can read what the other wrote; the note column is wider (see NOTE_COLUMN_LENGTH)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table
from sqlalchemy.dialects import mysql

# The column holds the largest note any -note-max-length allows; the flag, not
# the column, sets the limit users see (default 1000 characters).
NOTE_COLUMN_LENGTH = 4000

NoteId = Integer().with_variant(mysql.INTEGER(unsigned=True), "mysql")
Timestamp = DateTime().with_variant(mysql.TIMESTAMP(), "mysql")

# Every migration's revision, oldest first (notes/migrations/versions/), the last
# being the newest. A running backend compares the database against them without
# loading Alembic, which only -run-migrations needs; a test checks them against
# Alembic's. Migrations only ever add (columns, indexes): a database at a revision
# this release does not know is newer, and this release can use it, so that a
# rollout can be rolled back.
REVISIONS = ("0001", "0002")
HEAD_REVISION = REVISIONS[-1]


def is_newer_than_this_release(revision: str | None) -> bool:
    return revision is not None and revision not in REVISIONS


# Idempotency-Key: visible ASCII, at most this long (a UUID is 36).
IDEMPOTENCY_KEY_LENGTH = 128
IDEMPOTENCY_KEY_INDEX = "uq_notes_idempotency_key"

metadata = MetaData()

notes = Table(
    "notes",
    metadata,
    Column("id", NoteId, primary_key=True, autoincrement=True),
    Column("created_at", Timestamp, nullable=True),
    Column("updated_at", Timestamp, nullable=True),
    Column("deleted_at", Timestamp, nullable=True),  # soft delete, as gorm did
    Column("note", String(NOTE_COLUMN_LENGTH), nullable=True),
    # The client's Idempotency-Key: NULL for writes without one (the Go frontend's).
    Column("idempotency_key", String(IDEMPOTENCY_KEY_LENGTH), nullable=True),
)
