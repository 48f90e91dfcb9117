"""The ``nerve`` command: what it does without a subcommand."""

import subprocess
import sys

from nerve.cli import main


def test_bare_command_prints_help_and_exits_zero(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: nerve") and "demo" in out


def test_bare_console_script_exits_zero():
    # The installed entry point calls sys.exit(main()); run the module the same way.
    result = subprocess.run(
        [sys.executable, "-m", "nerve.cli"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: nerve") and result.stderr == ""
