"""`cerebro mcp`: the gateway as a Model Context Protocol server, for agents that speak MCP.

It is an ordinary client of the gateway (cerebro.client), on the official `mcp` SDK: over stdio it calls
with the agent's own API key; over streamable HTTP it forwards each request's bearer token and holds no
key of its own. The `mcp` extra installs it (`pip install "cerebro[mcp]"`).
"""
