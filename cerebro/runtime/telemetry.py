"""Logs, traces and the metrics endpoint, set up once per process.

- Logs are JSON lines on stderr carrying the current trace and span ids, so a log line can be
  found from a trace and the other way round.
- A tracer provider is always installed so W3C trace context crosses service hops and logs carry
  ids; spans are recorded and exported over OTLP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set
  (the standard OpenTelemetry variables apply, OTEL_TRACES_SAMPLER included). Otherwise they are not
  recorded at all: recording spans nobody receives cost about a quarter of the gateway's CPU per call.
- Prometheus metrics are served on the process's own metrics port.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler
from prometheus_client import start_http_server

from cerebro.runtime.config import ServiceSettings


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, trace ids, exception."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("CEREBRO_LOG_LEVEL", "INFO").upper())


def exporting_traces(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def tracing_sampler(environ: Mapping[str, str]) -> Sampler | None:
    """Record nothing unless spans are exported; None leaves the choice to OpenTelemetry's variables.

    Unsampled spans still carry valid ids, so context propagation and log correlation keep working.
    """
    if exporting_traces(environ) or environ.get("OTEL_TRACES_SAMPLER"):
        return None
    return ParentBased(ALWAYS_OFF)


def configure_tracing(service: str) -> TracerProvider:
    name = os.environ.get("OTEL_SERVICE_NAME") or f"cerebro-{service}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}), sampler=tracing_sampler(os.environ))
    if exporting_traces(os.environ):
        # Imported only when used: the exporter pulls in its own gRPC channel machinery.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def start_metrics_server(port: int, host: str = "0.0.0.0") -> int:
    """Serve Prometheus ``/metrics`` from a daemon thread; returns the bound port."""
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)


def configure_process(settings: ServiceSettings) -> TracerProvider:
    """Logging and tracing for one Cerebro process; call once, first thing."""
    configure_logging(settings.service)
    return configure_tracing(settings.service)
