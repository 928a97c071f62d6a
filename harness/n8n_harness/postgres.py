"""Per-test databases in the local PostgreSQL cluster that scripts/setup.sh starts."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlparse

import psycopg
from psycopg import sql

from .installs import cache_dir
from .launcher import PostgresConfig


def admin_dsn() -> str:
    """The test cluster's superuser DSN (scripts/env.sh builds it from the setup's random password)."""
    dsn = os.environ.get("LIFEBOAT_PG_DSN")
    if not dsn:
        password_file = cache_dir() / "pg-password"
        if not password_file.exists():
            raise RuntimeError("No test PostgreSQL configured: run scripts/setup.sh postgres (or set LIFEBOAT_PG_DSN)")
        dsn = f"postgresql://lifeboat:{password_file.read_text().strip()}@127.0.0.1:5432/postgres"
    return dsn


def _config(database: str) -> PostgresConfig:
    url = urlparse(admin_dsn())
    return PostgresConfig(
        database=database,
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "lifeboat",
        password=url.password or "",
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
    except (psycopg.OperationalError, RuntimeError):
        return False
