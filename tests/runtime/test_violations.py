"""One vocabulary of field errors for every service: each check, and the INVALID_ARGUMENT they add up to."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import UUID

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2, timestamp_pb2

from cerebro.runtime.errors import ServiceError
from cerebro.runtime.violations import Violations


def test_nothing_wrong_raises_nothing_and_is_false() -> None:
    violations = Violations()
    assert violations.text("content", "hello", max_chars=10) == "hello"
    assert not violations
    violations.raise_if_any()


def test_every_bad_field_is_reported_at_once_in_one_invalid_argument() -> None:
    violations = Violations()
    violations.text("content", "   ")
    violations.uuid("project_id", "not-a-uuid")
    violations.fraction("importance", 1.5)
    with pytest.raises(ServiceError) as raised:
        violations.raise_if_any()
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert violations.items == [
        ("content", "must contain non-whitespace text"),
        ("project_id", "must be a UUID; got 'not-a-uuid'"),
        ("importance", "must be between 0 and 1; got 1.5"),
    ]


def test_text_limits_in_characters_and_in_utf8_bytes() -> None:
    violations = Violations()
    violations.text("a", "", required=False)
    violations.text("b", "")
    violations.text("c", "é" * 6, max_chars=5)
    violations.text("d", "é" * 6, max_bytes=10)
    assert violations.items == [
        ("b", "is required"),
        ("c", "is 6 characters; the limit is 5"),
        ("d", "is 12 bytes; the limit is 10 bytes"),
    ]


def test_uuids_must_be_canonical_and_long_values_are_cut_in_the_message() -> None:
    violations = Violations()
    assert violations.uuid("id", "00000000-0000-0000-0000-00000000000A") == UUID(int=10)
    # uuid.UUID() alone would accept these; signed payloads need the one canonical form.
    assert violations.uuid("braced", "{00000000-0000-0000-0000-000000000001}") is None
    assert violations.uuid("hex", "0" * 32) is None
    assert violations.uuid("absent", "", required=False) is None
    violations.uuid("huge", "x" * 10_000)
    assert [field for field, _ in violations.items] == ["braced", "hex", "huge"]
    assert len(violations.items[-1][1]) < 100


def test_tokens_and_lists_of_distinct_tokens() -> None:
    violations = Violations()
    violations.token("region", "eu west", max_chars=20)
    violations.distinct_tokens("capabilities", ["memory", "memory", "x" * 30], max_items=5, max_chars=20)
    violations.distinct_tokens("endpoints", ["a", "b", "c"], max_items=2, max_chars=20)
    assert violations.items == [
        ("region", "must not contain whitespace or control characters"),
        ("capabilities[1]", "repeats 'memory'"),
        ("capabilities[2]", "is 30 characters; the limit is 20"),
        ("endpoints", "has 3 items; the limit is 2"),
    ]


def test_lists_of_distinct_texts_may_hold_spaces_but_no_repeats() -> None:
    violations = Violations()
    options = violations.distinct_texts("options", ["go ahead", "wait", "go ahead", " "], max_items=5, max_chars=20)
    assert options == ["go ahead", "wait", "go ahead", " "]
    violations.distinct_texts("too_few", ["only"], min_items=2, max_items=5, max_chars=20)
    violations.distinct_texts("too_long", ["x" * 21, "y"], max_items=5, max_chars=20)
    assert violations.items == [
        ("options[2]", "repeats 'go ahead'"),
        ("options[3]", "must contain non-whitespace text"),
        ("too_few", "has 1 items; at least 2 are required"),
        ("too_long[0]", "is 21 characters; the limit is 20"),
    ]


def test_namespace_and_pattern() -> None:
    violations = Violations()
    assert violations.namespace("namespace", "nexus-1") == "nexus-1"
    violations.namespace("other", "NEXUS")
    violations.pattern("label", "ok\n", re.compile(r"[a-z]+"), "must be lowercase letters")
    assert [field for field, _ in violations.items] == ["other", "label"]


def test_numbers_bytes_and_enums() -> None:
    violations = Violations()
    violations.between("top_k", float("nan"), 1, 100)
    violations.exact_bytes("signature", b"12", size=64, what="an Ed25519 signature")
    violations.exact_bytes("public_key", b"", size=32, what="an Ed25519 public key")
    assert violations.enum("mode", 0, {1: "text"}) is None
    assert violations.enum("mode", 1, {1: "text"}) == "text"
    violations.enum("state", 9, {1: "open"})
    violations.enum("kind", 0, {1: "a"}, required=True)
    assert violations.items == [
        ("top_k", "must be between 1 and 100; got nan"),
        ("signature", "must be an Ed25519 signature of 64 bytes; got 2"),
        ("public_key", "is required"),
        ("state", "is 9, not a known value"),
        ("kind", "is required"),
    ]


def test_struct_size_timestamps_durations_masks_and_page_sizes() -> None:
    violations = Violations()
    small = struct_pb2.Struct()
    small.update({"mood": "calm", "level": 2})
    assert violations.struct("metadata", small, max_bytes=1000) == {"mood": "calm", "level": 2}
    violations.struct("big", small, max_bytes=4)

    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime(2026, 1, 2, tzinfo=UTC))
    assert violations.timestamp("occur_time", stamp) == datetime(2026, 1, 2, tzinfo=UTC)
    assert violations.timestamp("unset", timestamp_pb2.Timestamp(), present=False) is None
    violations.timestamp("deadline", timestamp_pb2.Timestamp(), present=False, required=True)
    violations.timestamp("far", timestamp_pb2.Timestamp(seconds=10**12))

    hour = duration_pb2.Duration(seconds=3600)
    assert violations.duration("ttl", hour, minimum=timedelta(seconds=1), maximum=timedelta(days=1)) == timedelta(
        hours=1
    )
    violations.duration("short", hour, minimum=timedelta(days=2), maximum=timedelta(days=3))

    assert violations.update_mask("update_mask", field_mask_pb2.FieldMask(paths=["value"]), ["value"]) == {"value"}
    violations.update_mask("mask", field_mask_pb2.FieldMask(paths=["label"]), ["value"])

    assert violations.page_size("page_size", 0) == 50
    assert violations.page_size("page_size", 5000) == 1000
    violations.page_size("negative", -1)
    assert [field for field, _ in violations.items] == ["big", "deadline", "far", "short", "mask", "negative"]
