"""The gRPC channel options every Cerebro channel uses, the client's and the services' alike.

Only gRPC option tuples: the client imports this module, and a client install has no server code.
"""

from __future__ import annotations

from typing import Any

# Largest gRPC message in either direction, for servers and channels alike (a batch of long texts fits).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024

CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Ping the server when idle, so a dead peer (a region cut off mid-call) is noticed within ~40 s.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # gRPC's reconnect backoff grows to 120 s by default: far too slow to notice a peer is back.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5_000),
)
