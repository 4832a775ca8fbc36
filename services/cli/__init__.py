"""The operator's `cerebro` commands (up, serve, migrate, keys, `instances enroll` ...), which come with the
server extras: pyproject.toml declares each as a `cerebro.commands.<extra>` entry point (cerebro/cli/commands.py)."""
