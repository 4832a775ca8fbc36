"""The gateway's HTTP/JSON face: AgentGateway transcoded from its google.api.http annotations.

templates/routes (the route table), fields/transcode/violations (HTTP <-> messages), statuses and
deadlines, proxy (the gRPC calls), handler (one aiohttp handler), json_schema/openapi (the OpenAPI
document), gateway_api (AgentGateway's table and document), server (serving it), settings.
"""
