"""Run an external tool (HD-BET, ECLARE, ...) as a command from its own environment.

Its output (stdout and stderr, progress bars included) goes line by line into this process's
stdout, which inside a workflow job is the rule's log, so long runs show their progress there.
A failure raises one clear error naming the tool, its exit status, its last lines and the log.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence

from isosr.io import InputError

log = logging.getLogger(__name__)
TAIL_LINES = 3


def require_executable(tool: str, executable: str, how_to_install: str) -> str:
    """The full path of ``executable``, or an error saying how to install ``tool``."""
    found = shutil.which(executable)
    if found is None:
        raise InputError(f"{tool} needs the {executable!r} command, which is not installed: "
                         f"{how_to_install}")
    return found


def run_tool(tool: str, command: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run ``command``; return its output, or raise an error naming ``tool`` if it fails."""
    log.info("running %s: %s", tool, " ".join(command))
    sys.stdout.flush()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    lines = []
    with subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", env=None if env is None else dict(env)
                          ) as process:
        assert process.stdout is not None
        for line in process.stdout:  # universal newlines: progress bars' \r ends a line too
            sys.stdout.write(line)
            lines.append(line)
            if line.strip():
                tail.append(line.strip())
        status = process.wait()
    sys.stdout.flush()
    if status != 0:
        where = getattr(sys.stdout, "name", "")
        seen = f"; full output in {where}" if isinstance(where, str) and where.endswith(".log") \
            else ""
        raise InputError(f"{tool} failed (exit {status}): {' | '.join(tail) or 'no output'}"
                         f"{seen}")
    return "".join(lines)
