"""A gRPC service over HTTP/JSON, transcoded by its ``google.api.http`` annotations.

The route table comes from the service's descriptor (templates, routes); each HTTP request becomes a
request message (transcode, fields, violations), is sent over a gRPC channel (proxy) with its
credentials and deadline (deadlines), and the response or ``google.rpc.Status`` comes back as proto3
JSON (statuses); server streams as newline-delimited JSON (handler). The aiohttp server around it
limits bodies, slow clients and connections per client (connections, server). The OpenAPI 3.1
document is generated from the same route table (json_schema, openapi).

Nothing here knows which service it serves: the gateway's HTTP face (services.gateway.http) is one use.
"""
