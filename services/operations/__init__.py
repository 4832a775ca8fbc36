"""Operator tools: import of the old brains, backup and restore, embeddings-queue administration."""
