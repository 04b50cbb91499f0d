"""Notes: stored in MySQL/MariaDB, PostgreSQL or an embedded SQLite file."""
