"""One tooling gate: the README's test command, .ci/run and the pre-commit hooks agree.

The README states the command; CI must run exactly it, and the pre-commit hooks
must run its static checks (everything between the install and pytest), so that a
commit that passes locally is not refused by CI for lint, format or types.
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
INSTALL = 'python -m pip install -q -e ".[test]"'


def readme_command() -> str:
    lines = [
        line.strip()
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.strip().startswith(INSTALL)
    ]
    assert len(lines) == 1, f"the README should state one test command, found {lines}"
    return lines[0]


def static_checks(command: str) -> list[str]:
    """The command's steps between the install and the test run."""
    steps = [step.strip() for step in command.split("&&")]
    assert steps[0] == INSTALL and steps[-1] == "python -m pytest", steps
    return steps[1:-1]


def test_ci_runs_exactly_the_readme_command():
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line.strip() for line in script if line.strip().startswith(INSTALL)]
    assert commands == [readme_command()]


def test_the_gate_type_checks_the_package():
    assert "mypy nerve" in static_checks(readme_command())


def test_pre_commit_runs_the_static_checks_of_the_gate():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    assert re.findall(r"^\s*-\s*repo:\s*(\S+)", config, re.MULTILINE) == ["local"]
    entries = re.findall(r"^\s*entry:\s*(.+?)\s*$", config, re.MULTILINE)
    languages = re.findall(r"^\s*language:\s*(\S+)", config, re.MULTILINE)
    assert entries == static_checks(readme_command())
    # The installed tools (same versions as CI), and no download at commit time.
    assert languages == ["system"] * len(entries)
    assert config.count("pass_filenames: false") == len(entries)
