"""The gateway's schema: its migrations, applied at start (unless told not to) or by `cerebro migrate`."""

from __future__ import annotations

from pathlib import Path

from cerebro.runtime.database import Schema

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
SCHEMA = Schema("gateway", MIGRATIONS_DIR)
