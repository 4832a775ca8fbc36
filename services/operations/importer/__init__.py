"""`cerebro import`: the ARIA v4 and NEXUS Letta/Zep databases into the memory schema."""
