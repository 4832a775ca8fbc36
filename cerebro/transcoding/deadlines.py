"""The deadline of an HTTP call: a ``grpc-timeout`` or ``X-Request-Timeout`` header, else a default."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from cerebro.runtime.errors import invalid_argument

GRPC_TIMEOUT_HEADER = "grpc-timeout"
REQUEST_TIMEOUT_HEADER = "X-Request-Timeout"
# Longer deadlines are mistakes (and beyond what gRPC's timers represent well).
MAX_TIMEOUT_SECONDS = 30 * 86_400.0

# gRPC's own form: at most 8 digits and a unit (Hours, Minutes, Seconds, milli, micro, nano).
_GRPC_TIMEOUT = re.compile(r"^([0-9]{1,8})([HMSmun])$")
_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def request_timeout(headers: Mapping[str, str], default: float | None) -> float | None:
    """Seconds the call may take: ``grpc-timeout`` (e.g. ``500m``), else ``X-Request-Timeout`` (seconds,
    e.g. ``2.5``), else ``default``. INVALID_ARGUMENT naming the header when its value is malformed."""
    grpc_timeout = headers.get(GRPC_TIMEOUT_HEADER)
    if grpc_timeout is not None:
        found = _GRPC_TIMEOUT.match(grpc_timeout.strip())
        if found is None:
            raise invalid_argument(
                [(GRPC_TIMEOUT_HEADER, 'must be digits and a unit of H, M, S, m, u, n, e.g. "500m"')]
            )
        return _checked(GRPC_TIMEOUT_HEADER, int(found[1]) * _UNIT_SECONDS[found[2]])
    request_timeout_value = headers.get(REQUEST_TIMEOUT_HEADER)
    if request_timeout_value is not None:
        try:
            seconds = float(request_timeout_value)
        except ValueError:
            raise invalid_argument([(REQUEST_TIMEOUT_HEADER, 'must be a number of seconds, e.g. "2.5"')]) from None
        return _checked(REQUEST_TIMEOUT_HEADER, seconds)
    return default


def _checked(header: str, seconds: float) -> float:
    if not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_TIMEOUT_SECONDS:
        raise invalid_argument([(header, f"must be more than 0 and at most {MAX_TIMEOUT_SECONDS:.0f} seconds")])
    return seconds
