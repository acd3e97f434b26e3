"""Choosing a drift engine by name. Separate from the engines so that importing the
package does not import them (the alibi engine pulls in alibi_detect)."""

from __future__ import annotations

from .types import DriftDetector, Engine


def get_detector(engine: Engine = "native") -> DriftDetector:
    # Imported lazily: the alibi engine pulls in alibi_detect (~10 s) only when asked for.
    if engine == "native":
        from .native import NativeDetector

        return NativeDetector()
    if engine == "alibi":
        from .alibi_engine import AlibiDetector

        return AlibiDetector()
    raise ValueError(f"unknown drift engine {engine!r}; expected 'native' or 'alibi'")
