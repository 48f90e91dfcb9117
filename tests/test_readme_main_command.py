"""The README's first command, run as a new user would: a copy of the repository in a
fresh virtual environment, nothing installed but what the command installs."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_main_command() -> str:
    """The first shell line of the README's "The two commands" section."""
    section = (ROOT / "README.md").read_text().split("## The two commands", 1)[1]
    block = re.search(r"```sh\n(.+?)\n```", section, re.DOTALL)
    assert block is not None, "the README's main command is not in a ```sh block"
    return block.group(1).strip()


def test_the_main_command_installs_the_extra_that_saving_needs():
    command = readme_main_command()
    extra = re.search(r'-e "\.\[(\w+)\]"', command)
    assert extra is not None, command
    pyproject = (ROOT / "pyproject.toml").read_text()
    line = re.search(rf"^{extra.group(1)} = \[(.*)\]$", pyproject, re.MULTILINE)
    assert line is not None and "h5py" in line.group(1) and "matplotlib" in line.group(1)


@pytest.mark.slow
def test_the_main_command_works_in_a_fresh_virtual_environment(tmp_path):
    copy = tmp_path / "nerve"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", "*.egg-info", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
            "build", "dist", "nerve-demo",
        ),
    )  # fmt: skip
    environment = tmp_path / "venv"
    try:
        venv.create(environment, with_pip=True)
    except (subprocess.CalledProcessError, OSError) as error:  # no ensurepip here
        pytest.skip(f"cannot create a virtual environment with pip: {error}")
    bin_dir = environment / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(environment)
    done = subprocess.run(
        readme_main_command(), shell=True, cwd=copy, env=env, capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    accuracy = re.search(r"test accuracy: ([0-9.]+)", done.stdout)
    assert accuracy is not None and float(accuracy.group(1)) > 0.9, done.stdout[-2000:]
    output = copy / "nerve-demo"
    assert (output / "digits.keras").stat().st_size > 0
    assert (output / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "skipped" not in done.stdout
    # The environment's nerve is the copy, not the developer's checkout.
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import nerve; print(nerve.__file__)"],
        # Not from tmp_path, where the folder `nerve` (the copy) would shadow the package.
        cwd=environment, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert pathlib.Path(where.stdout.strip()).is_relative_to(copy), (where.stdout, sys.executable)
