"""Glue for the thin Snakemake scripts: logging to the rule's log and clean error messages."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from isosr.io import InputError, RegistrationError

USER_ERRORS = (InputError, RegistrationError)


def run_logged(log_path: str | Path, job: Callable[[], object]) -> None:
    """Run ``job`` with stdout/stderr going to ``log_path``.

    A user error (bad file, failed registration) is written to the log and to the console as one
    line naming the problem, and the script exits with status 1 instead of a traceback.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console = sys.stderr
    with open(log_path, "a") as log, redirect_stdout(log), redirect_stderr(log):
        logging.basicConfig(stream=log, level=logging.INFO, force=True,
                            format="%(asctime)s %(levelname)s %(message)s")
        try:
            job()
        except USER_ERRORS as error:
            print(f"DEBUG traceback of the error below:\n{traceback.format_exc()}", file=log)
            message = f"isosr error: {error}"
            print(message, file=log)
            print(message, file=console)
            raise SystemExit(1) from None
