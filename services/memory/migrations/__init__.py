"""Versioned SQL migrations of the memory service (a package, so its .sql files ship as package data)."""
