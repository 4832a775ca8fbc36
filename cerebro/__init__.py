"""Cerebro: shared durable memory for AI agent instances."""
