"""The gateway's HTTP/JSON face: AgentGateway transcoded from its google.api.http annotations.

routes/templates (the route table), transcode/violations (HTTP <-> messages), statuses/deadlines,
proxy (the gRPC calls), handler (one aiohttp handler), json_schema/openapi (the OpenAPI document),
gateway_api (AgentGateway's table and document), server (serving it), settings.
"""
