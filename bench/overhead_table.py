"""The table the overhead benches print (bench/gateway_bench.py, bench/mcp_bench.py): one call made directly
and through a layer, side by side, in markdown."""

from __future__ import annotations

import statistics

# (call, the value of the second column, direct latencies, latencies through the layer, the layer's CPU
# seconds per call), latencies in seconds.
Row = tuple[str, int | str, list[float], list[float], float]


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` (seconds), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def print_overhead_table(rows: list[Row], *, column: str, layer: str, cpu: str) -> None:
    """``column`` names the second column (right-aligned when it holds numbers), ``layer`` the measured
    layer in the latency headers, ``cpu`` the CPU column."""
    print(f"| call | {column} | direct p50 | direct p99 | {layer} p50 | {layer} p99 | added p50 | {cpu} |")
    numeric = all(isinstance(row[1], int) for row in rows)
    print(f"|---|{'---:' if numeric else '---'}|---:|---:|---:|---:|---:|---:|")
    for name, value, direct, through, cpu_per_call in rows:
        d50, t50 = statistics.median(direct) * 1000, statistics.median(through) * 1000
        print(
            f"| {name} | {value} | {d50:.2f} | {percentile(direct, 0.99):.2f} | {t50:.2f} "
            f"| {percentile(through, 0.99):.2f} | {t50 - d50:.2f} | {cpu_per_call * 1000:.2f} |"
        )
