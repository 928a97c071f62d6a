"""Per-test databases in the local PostgreSQL cluster that scripts/setup.sh starts."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlparse

import psycopg
from psycopg import sql

from .launcher import PostgresConfig

DEFAULT_DSN = "postgresql://lifeboat:lifeboat@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    return os.environ.get("LIFEBOAT_PG_DSN", DEFAULT_DSN)


def _config(database: str) -> PostgresConfig:
    url = urlparse(admin_dsn())
    return PostgresConfig(
        database=database,
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "lifeboat",
        password=url.password or "lifeboat",
    )


def create_database(prefix: str = "lb") -> PostgresConfig:
    """A fresh, empty database with a unique name."""
    name = f"{prefix}_{secrets.token_hex(5)}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _config(name)


def drop_database(config: PostgresConfig) -> None:
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(config.database)))


def available() -> bool:
    try:
        with psycopg.connect(admin_dsn(), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False
