"""Alembic's entry point: migrations always run on a connection awsme hands over
(see awsme.notes.migrate), never on one built from alembic.ini."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
