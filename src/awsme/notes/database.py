"""Which database, and how to reach it: URL resolution, engines, database creation.

The choice follows INTERFACE §2: `-db-url` if given; MySQL when any `-db-*`
flag or `AWSME_DB_*` variable is set (as in the Go app); otherwise an embedded
SQLite file, so that the program runs with no server at all.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL, make_url, text
from sqlalchemy.exc import ArgumentError

from awsme.notes.async_engine import AsyncEngine, create_async_engine
from awsme.settings import SettingError, Settings

DEFAULT_SQLITE_FILE = "awsme-notes.db"
MYSQL_SETTINGS = frozenset(
    {"db_host", "db_port", "db_user", "db_password", "db_password_file", "db_name"}
)
# One async driver per database; the scheme a user types maps onto it.
DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}
# A server that does not answer a connection within this time is down for us.
CONNECT_TIMEOUT = 3
CREATE_DATABASE_LOCK_KEY = 0x617773_6D66


def read_password_file(path: str) -> str:
    try:
        # A mounted secret often ends with a newline that is not part of the password.
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        raise SettingError(f"cannot read -db-password-file {path}: {error.strerror}") from None


def database_url(settings: Settings) -> URL:
    """The SQLAlchemy URL (with its async driver) that the settings designate."""
    if settings.db_url:
        return _parse_url(settings.db_url)
    if settings.given & MYSQL_SETTINGS:
        password = (
            read_password_file(settings.db_password_file)
            if settings.db_password_file
            else settings.db_password
        )
        return URL.create(
            DRIVERS["mysql"],
            username=settings.db_user,
            password=password,
            # "localhost" would mean a Unix socket to some clients; the Go app used
            # TCP, and a database in another container shares no socket with us.
            host="127.0.0.1" if settings.db_host == "localhost" else settings.db_host,
            port=settings.db_port,
            database=settings.db_name,
            query={"charset": "utf8mb4"},
        )
    return URL.create(DRIVERS["sqlite"], database=DEFAULT_SQLITE_FILE)


def _parse_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingError("-db-url is not a database URL (sqlite:///path, mysql://...)") from None
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        raise SettingError(
            f"-db-url: unsupported database {backend!r} (use sqlite, mysql or postgresql)"
        )
    url = url.set(drivername=DRIVERS[backend])
    if url.get_backend_name() == "mysql":
        if url.host == "localhost":
            url = url.set(host="127.0.0.1")
        url = url.update_query_dict({"charset": "utf8mb4"})
    if url.get_backend_name() == "sqlite" and not url.database:
        raise SettingError("-db-url: sqlite needs a file (sqlite:///path/to/notes.db)")
    return url


def describe(url: URL) -> str:
    """The URL for logs and errors: never with its password."""
    return url.render_as_string(hide_password=True)


# Connections each worker keeps for the notes read of GET /. Kept, not opened
# per burst: an overflow connection is closed when it comes back, and a new one
# costs a handshake. Requests share reads (awsme.notes.recent), a few at most
# under way at once, each on its own connection: the pool never makes one wait.
READ_POOL_SIZE = 4


def create_reader(url: URL) -> AsyncEngine:
    """The engine for reads of committed rows, one round trip each: in
    autocommit a read opens no transaction, so a connection goes back to the
    pool without a ROLLBACK, and none is pinged before use (a connection that
    died in the pool fails its query, and the read retries once: NoteStore)."""
    return create_engine(
        url,
        pool_size=READ_POOL_SIZE,
        max_overflow=0,
        isolation_level="AUTOCOMMIT",
        skip_autocommit_rollback=True,
        pool_pre_ping=False,
    )


def create_engine(url: URL, *, pool_size: int = 5, **extra: object) -> AsyncEngine:
    backend = url.get_backend_name()
    options: dict[str, object] = {"pool_pre_ping": True}  # dead connections never reach a query
    if backend == "mysql":
        options["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT,
            # Timestamps are UTC whatever the server's own zone is.
            "init_command": "SET time_zone = '+00:00'",
        }
        options["pool_recycle"] = 3600  # below MySQL's wait_timeout
        options["pool_size"] = pool_size
    elif backend == "postgresql":
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT}
        options["pool_size"] = pool_size
    elif backend == "sqlite":
        options["connect_args"] = {"timeout": 15}  # wait for a writer, don't fail at once
        extra.pop("pool_size", None)
        extra.pop("max_overflow", None)
    return create_async_engine(url, **{**options, **extra})


async def create_database_if_missing(url: URL) -> bool:
    """Create the URL's database on its server (MySQL, PostgreSQL); True if created.

    SQLite creates its file on first connection, in an existing folder.
    """
    backend = url.get_backend_name()
    name = url.database
    if backend == "sqlite" or not name:
        if backend == "sqlite" and name and name != ":memory:":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        return False
    if backend == "mysql":
        # URL.set(database=None) keeps the name; build the server's URL without it.
        server = create_engine(
            URL.create(
                url.drivername, url.username, url.password, url.host, url.port, query=url.query
            )
        )
        try:
            async with server.begin() as connection:
                exists = await connection.scalar(
                    text("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = :n"),
                    {"n": name},
                )
                await connection.execute(
                    text(
                        f"CREATE DATABASE IF NOT EXISTS {_quote_mysql(name)} "
                        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                )
                return not exists
        finally:
            await server.dispose()
    # CREATE DATABASE cannot run inside a transaction.
    server = create_engine(url.set(database="postgres")).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    try:
        async with server.connect() as connection:
            # Replicas starting together would race to CREATE DATABASE; a lock on
            # the server serialises them (released when the connection closes).
            await connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": CREATE_DATABASE_LOCK_KEY}
            )
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if not exists:
                await connection.execute(text(f"CREATE DATABASE {_quote_postgres(name)}"))
            await connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": CREATE_DATABASE_LOCK_KEY}
            )
            return not exists
    finally:
        await server.dispose()


def _quote_mysql(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _quote_postgres(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
