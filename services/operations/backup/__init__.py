"""`cerebro backup` / `cerebro restore`: a pg_dump of the Cerebro database with a verifiable manifest."""
