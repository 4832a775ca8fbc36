"""Tracing records spans only when they go somewhere, and trace context works either way."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cerebro.runtime.telemetry import tracing_sampler


def spans_recorded(environ: dict[str, str]) -> tuple[bool, bool, int]:
    """(recording, valid context, spans exported) for a root span under the sampler ``environ`` selects."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing_sampler(environ))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("call") as span:
        recording, valid = span.is_recording(), span.get_span_context().is_valid
    return recording, valid, len(exporter.get_finished_spans())


def test_without_an_exporter_spans_are_not_recorded_but_keep_their_ids() -> None:
    assert spans_recorded({}) == (False, True, 0)


def test_with_an_exporter_or_a_chosen_sampler_spans_are_recorded() -> None:
    assert spans_recorded({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}) == (True, True, 1)
    assert spans_recorded({"OTEL_TRACES_SAMPLER": "always_on"}) == (True, True, 1)
