"""The gateway's HTTP/JSON face: AgentGateway over the generic transcoder of :mod:`cerebro.transcoding`.

Only the gateway's wiring is here: its settings (CEREBRO_GATEWAY_HTTP_*), its route table and OpenAPI
document (gateway_api), and the server the gateway process runs beside its gRPC port (server), which
calls that port over loopback gRPC, so every HTTP call passes the gateway's own interceptors.
"""
