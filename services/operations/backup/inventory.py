"""What a backup records about a database and a restore checks again: per table its row count and a
checksum, the schema version of each component, and the roles its privileges and policies name.

A table's checksum is computed in SQL: the SHA-256 of each row's text form, in primary-key order (the
row's text where a table has no primary key), hashed per chunk of CHUNK_ROWS rows, and the chunk
digests hashed again. The server holds one chunk at a time, however large the table. The session is
set to UTC and ISO output first, so the text form of a row does not depend on who computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

CHUNK_ROWS = 10_000
CHECKSUM_METHOD = (
    f"sha256 of the sha256 digests of {CHUNK_ROWS}-row chunks, each the sha256 of its rows' sha256(row::text), "
    "rows in primary-key order, TimeZone UTC, DateStyle ISO"
)
# Settings that change a row's text form.
_OUTPUT_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}


@dataclass(frozen=True)
class TableState:
    rows: int
    sha256: str


class NotCerebroError(RuntimeError):
    """The database has no Cerebro schema bookkeeping."""


async def use_canonical_output(connection: asyncpg.Connection) -> None:
    """Within the current transaction, format values the same way on every server and client."""
    for name, value in _OUTPUT_SETTINGS.items():
        await connection.execute("SELECT set_config($1, $2, true)", name, value)


async def user_tables(connection: asyncpg.Connection) -> list[str]:
    """Every ordinary table outside the system schemas and not owned by an extension, as schema.table."""
    rows = await connection.fetch(
        """SELECT format('%I.%I', n.nspname, c.relname) AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r'
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
           ORDER BY n.nspname, c.relname"""
    )
    return [row["name"] for row in rows]


async def _order_by(connection: asyncpg.Connection, table: str) -> str:
    columns = await connection.fetch(
        """SELECT format('t.%I', a.attname) AS column_sql
           FROM pg_index i
           JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) ON true
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           WHERE i.indrelid = $1::regclass AND i.indisprimary
           ORDER BY k.position""",
        table,
    )
    return ", ".join(row["column_sql"] for row in columns) or "t::text"


async def table_state(connection: asyncpg.Connection, table: str) -> TableState:
    """Row count and checksum of ``table`` (a name from :func:`user_tables`, already quoted)."""
    order_by = await _order_by(connection, table)
    row = await connection.fetchrow(
        f"""WITH numbered AS (
                SELECT sha256(convert_to(t::text, 'UTF8')) AS digest, row_number() OVER (ORDER BY {order_by}) AS n
                FROM {table} AS t
            ), chunks AS (
                SELECT (n - 1) / {CHUNK_ROWS} AS chunk, count(*) AS rows,
                       sha256(string_agg(digest, ''::bytea ORDER BY n)) AS digest
                FROM numbered GROUP BY 1
            )
            SELECT coalesce(sum(rows), 0)::bigint AS rows,
                   encode(sha256(coalesce(string_agg(digest, ''::bytea ORDER BY chunk), ''::bytea)), 'hex') AS sha256
            FROM chunks"""
    )
    return TableState(row["rows"], row["sha256"])


async def table_states(connection: asyncpg.Connection) -> dict[str, TableState]:
    """Every user table's state, in the snapshot of the caller's transaction."""
    await use_canonical_output(connection)
    return {table: await table_state(connection, table) for table in await user_tables(connection)}


async def schema_versions(connection: asyncpg.Connection) -> dict[str, dict[str, object]]:
    """{component: {"version": highest applied, "migrations": ["0001_name", ...]}} from the bookkeeping table."""
    if await connection.fetchval("SELECT to_regclass('public.cerebro_schema_migrations')") is None:
        raise NotCerebroError("the database has no cerebro_schema_migrations table: not a Cerebro database")
    rows = await connection.fetch(
        """SELECT component, max(version) AS version,
                  array_agg(lpad(version::text, 4, '0') || '_' || name ORDER BY version) AS migrations
           FROM cerebro_schema_migrations GROUP BY component ORDER BY component"""
    )
    return {row["component"]: {"version": row["version"], "migrations": list(row["migrations"])} for row in rows}


async def granted_roles(connection: asyncpg.Connection) -> list[str]:
    """Roles other than superusers named by privileges or row-level security policies in the database:
    a restore into another cluster creates the missing ones (without login) before restoring."""
    rows = await connection.fetch(
        """SELECT DISTINCT r.rolname FROM (
               SELECT (aclexplode(c.relacl)).grantee FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relacl IS NOT NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               UNION SELECT (aclexplode(a.attacl)).grantee FROM pg_attribute a WHERE a.attacl IS NOT NULL
               UNION SELECT (aclexplode(n.nspacl)).grantee FROM pg_namespace n
               WHERE n.nspacl IS NOT NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               UNION SELECT (aclexplode(p.proacl)).grantee FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE p.proacl IS NOT NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               UNION SELECT unnest(polroles) FROM pg_policy
           ) AS granted (grantee)
           JOIN pg_roles r ON r.oid = granted.grantee
           WHERE NOT r.rolsuper AND r.rolname NOT LIKE 'pg\\_%'
           ORDER BY 1"""
    )
    return [row["rolname"] for row in rows]
