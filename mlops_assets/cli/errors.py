"""How the CLI fails: one line on stderr (a JSON object on stdout under --json), an exit code."""

from __future__ import annotations

import json
import sys

# Exit codes: 1 a refused or failed operation, 2 bad usage (unknown dataset, alias, option).
FAILED = 1
USAGE = 2


class CLIError(Exception):
    """A failure the user can act on; said in one line, never as a traceback."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def report(message: str, code: int, as_json: bool, kind: str = "error") -> int:
    if as_json:
        print(json.dumps({"error": message, "kind": kind, "exit_code": code}))
    else:
        print(f"error: {message}", file=sys.stderr)
    return code
