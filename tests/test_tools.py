"""The external-tool runner: output goes to the job's log, a failure names the tool."""

from __future__ import annotations

import sys

import pytest

from isosr.io import InputError
from isosr.tools import require_executable, run_tool


def test_output_is_returned_and_written_to_stdout(capsys):
    output = run_tool("echo-tool", [sys.executable, "-c", "print('one'); print('two\\rthree')"])
    assert output.splitlines() == ["one", "two", "three"]  # a progress bar's \\r ends a line
    assert "one\ntwo\nthree\n" in capsys.readouterr().out


def test_a_failure_names_the_tool_its_status_and_last_lines():
    script = "import sys; [print(f'line {i}') for i in range(5)]; sys.exit(3)"
    with pytest.raises(InputError, match=r"^ECLARE failed \(exit 3\): line 2 \| line 3 \| line 4$"):
        run_tool("ECLARE", [sys.executable, "-c", script])


def test_a_missing_command_says_how_to_install_it():
    assert require_executable("Python", sys.executable, "-") == sys.executable
    with pytest.raises(InputError, match="ECLARE needs the 'no-such-tool' command, which is not "
                                         "installed: run envs/install-eclare.sh"):
        require_executable("ECLARE", "no-such-tool", "run envs/install-eclare.sh")
