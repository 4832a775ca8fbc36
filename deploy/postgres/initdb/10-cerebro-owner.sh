#!/usr/bin/env bash
# Runs once, when the PostgreSQL container starts on an empty data volume (the image runs
# /docker-entrypoint-initdb.d then), as the bootstrap superuser over the local socket.
#
# Creates what `cerebro migrate` cannot create for itself, so that the migrations can run as an
# ordinary owner instead of the superuser:
#   - the role `cerebro`, which owns the database and its schema. CREATEROLE because the migrations
#     create the least-privilege roles cerebro_memory, cerebro_memory_worker, cerebro_memory_reader,
#     cerebro_gateway and cerebro_consensus (NOLOGIN); `cerebro migrate` then gives them logins from
#     their secret files.
#   - the database `cerebro`, owned by it.
#   - the pgvector extension, which only a superuser may create.
# The owner's password is read by psql itself (backquotes in \set) from the file named by
# POSTGRES_OWNER_PASSWORD_FILE, so it never appears on a command line. Changing it later:
# "Rotating a secret" in docs/deploy.md.
set -Eeuo pipefail
: "${POSTGRES_OWNER_PASSWORD_FILE:?must name the file with the password of the owner}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\set owner_password `cat "$POSTGRES_OWNER_PASSWORD_FILE"`
CREATE ROLE cerebro WITH LOGIN CREATEROLE PASSWORD :'owner_password';
CREATE DATABASE cerebro OWNER cerebro;
\connect cerebro
CREATE EXTENSION IF NOT EXISTS vector;
SQL
