"""Choosing a drift engine by name. Separate from report.py so that report.py (the interface)
and the engines (which import it) form no import cycle."""

from __future__ import annotations

from .report import DriftDetector, Engine


def get_detector(engine: Engine = "native") -> DriftDetector:
    # Imported lazily: the alibi engine pulls in alibi_detect (~10 s) only when asked for.
    if engine == "native":
        from .native import NativeDetector

        return NativeDetector()
    if engine == "alibi":
        from .alibi_engine import AlibiDetector

        return AlibiDetector()
    raise ValueError(f"unknown drift engine {engine!r}; expected 'native' or 'alibi'")
