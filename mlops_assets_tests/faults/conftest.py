"""Prints the fault tally (tried / killed mid-run / main untouched / recovered without a person)
at the end of a run that included fault trials; MLOPS_ASSETS_FAULTS_REPORT=<path> also writes it
as JSON."""

import json
import os

from mlops_assets_tests.faults.harness import SEED, TALLY, N


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    terminalreporter.section(f"fault trials (N={N}, seed {SEED})")
    for kind, counts in sorted(TALLY.items()):
        terminalreporter.write_line(
            f"{kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    path = os.environ.get("MLOPS_ASSETS_FAULTS_REPORT")
    if path:
        with open(path, "w") as out:
            json.dump({"n": N, "seed": SEED, "tally": TALLY}, out, indent=2)
