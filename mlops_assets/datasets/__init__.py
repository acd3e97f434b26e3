"""Bundled datasets: one <name>.yaml spec each, plus <name>.py for custom prepare/feature code."""
