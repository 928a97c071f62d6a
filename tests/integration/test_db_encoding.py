"""PostgreSQL databases created as SQL_ASCII (initdb without a locale) still read as text.

psycopg returns bytes for SQL_ASCII databases unless the client encoding is set; n8n writes
UTF-8 text, and every lifeboat.n8n query compares strings (table names, statuses).
"""

from __future__ import annotations

import os
import sys

import psycopg
import pytest
from n8n_harness import postgres as pg
from psycopg import sql

_LINK = os.environ.get("LIFEBOAT_CHECKOUT_LINK")
if _LINK and _LINK not in sys.path:
    sys.path.insert(0, _LINK)

from ansible_collections.lifeboat.n8n.plugins.module_utils._db import DatabaseConfig, N8nDatabase  # noqa: E402


@pytest.fixture
def sql_ascii_database(pg_available: bool):
    config = pg._config("lb_ascii_" + os.urandom(4).hex())
    with psycopg.connect(pg.admin_dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0").format(
                sql.Identifier(config.database)
            )
        )
    yield config
    pg.drop_database(config)


def test_sql_ascii_database_reads_as_text(sql_ascii_database) -> None:
    cfg = sql_ascii_database
    config = DatabaseConfig(type="postgresdb", host=cfg.host, port=cfg.port, name=cfg.database, user=cfg.user, password=cfg.password)
    with N8nDatabase(config) as db:
        db.execute('CREATE TABLE execution_entity (id int, status varchar(20), "workflowId" varchar(36))').close()
        db.execute("INSERT INTO execution_entity VALUES (1, 'success', 'wf-\u00e9')").close()
        assert db.tables() == {"execution_entity"}
        assert db.fetchall('SELECT status, "workflowId" FROM ' + db.table("execution_entity")) == [("success", "wf-\u00e9")]
