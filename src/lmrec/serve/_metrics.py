"""Prometheus text exposition of request counts, latency histograms and gauges (no client library needed)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Per-process counters: requests by (method, route, status) and latency by (method, route)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._count: dict[tuple[str, str], int] = defaultdict(int)
        self.events_stored = 0
        self.events_duplicate = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route)
        with self._lock:
            self._requests[(method, route, status)] += 1
            buckets = self._buckets.setdefault(key, [0] * (len(BUCKETS) + 1))
            buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sum[key] += seconds
            self._count[key] += 1

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        """The exposition text; ``gauges`` maps a metric name to (help, value)."""
        out = [
            "# HELP lmrec_http_requests_total HTTP requests by method, route and status.",
            "# TYPE lmrec_http_requests_total counter",
        ]
        with self._lock:
            for (m, r, s), n in sorted(self._requests.items()):
                out.append(f'lmrec_http_requests_total{{method="{m}",route="{_esc(r)}",status="{s}"}} {n}')
            out += [
                "# HELP lmrec_http_request_duration_seconds Request latency.",
                "# TYPE lmrec_http_request_duration_seconds histogram",
            ]
            for (m, r), counts in sorted(self._buckets.items()):
                labels = f'method="{m}",route="{_esc(r)}"'
                acc = 0
                for bound, c in zip(BUCKETS, counts, strict=False):
                    acc += c
                    out.append(f'lmrec_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {acc}')
                acc += counts[-1]
                out.append(f'lmrec_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {acc}')
                out.append(f"lmrec_http_request_duration_seconds_sum{{{labels}}} {self._sum[(m, r)]:.6f}")
                out.append(f"lmrec_http_request_duration_seconds_count{{{labels}}} {self._count[(m, r)]}")
            counters = {
                "lmrec_events_stored_total": ("Events stored by this process.", self.events_stored),
                "lmrec_events_duplicate_total": (
                    "Retried event requests answered from the store.",
                    self.events_duplicate,
                ),
            }
        for name, (help_, value) in counters.items():
            out += [f"# HELP {name} {help_}", f"# TYPE {name} counter", f"{name} {value}"]
        for name, (help_, value) in gauges.items():
            out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(out) + "\n"


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
