"""Prometheus metrics in the text exposition format (0.0.4), written here: counters, gauges
and a latency histogram, thread-safe, no dependency."""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _fmt(labels: Labels, extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = [*labels, *extra]
    if not items:
        return ""
    esc = [(k, v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
           for k, v in items]
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc) + "}"


class Metrics:
    def __init__(self, prefix: str = "mlops_serving") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._hist: dict[Labels, list[float]] = {}
        self._help: dict[str, str] = {}

    def inc(self, name: str, help_text: str, value: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            self._help[name] = help_text
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + value

    def set(self, name: str, help_text: str, value: float, **labels: str) -> None:
        with self._lock:
            self._help[name] = help_text
            self._gauges[name][_labels(labels)] = value

    def clear_gauge(self, name: str) -> None:
        with self._lock:
            self._gauges[name].clear()

    def observe(self, seconds: float, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            cells = self._hist.setdefault(key, [0.0] * (len(LATENCY_BUCKETS) + 2))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    cells[i] += 1
            cells[-2] += 1  # count (+Inf)
            cells[-1] += seconds

    def counter(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, {}).get(_labels(labels), 0.0)

    def render(self) -> str:
        p = self.prefix
        lines: list[str] = []
        with self._lock:
            for kind, table in (("counter", self._counters), ("gauge", self._gauges)):
                for name, series in sorted(table.items()):
                    full = f"{p}_{name}"
                    lines += [f"# HELP {full} {self._help.get(name, name)}",
                              f"# TYPE {full} {kind}"]
                    lines += [f"{full}{_fmt(k)} {v:g}" for k, v in sorted(series.items())]
            name = f"{p}_request_duration_seconds"
            lines += [f"# HELP {name} request latency, from body received to response built",
                      f"# TYPE {name} histogram"]
            for key, cells in sorted(self._hist.items()):
                for i, bound in enumerate(LATENCY_BUCKETS):
                    lines.append(f"{name}_bucket{_fmt(key, (('le', f'{bound:g}'),))} "
                                 f"{cells[i]:g}")
                lines.append(f"{name}_bucket{_fmt(key, (('le', '+Inf'),))} {cells[-2]:g}")
                lines.append(f"{name}_count{_fmt(key)} {cells[-2]:g}")
                lines.append(f"{name}_sum{_fmt(key)} {cells[-1]:.6f}")
        return "\n".join(lines) + "\n"
