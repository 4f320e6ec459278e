"""The built wheel carries models.yaml and the `dnallm` command, and works installed, not only editable."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
    )
    (path,) = out.glob("dnallm-*.whl")
    return path


def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert {"dnallm/__init__.py", "dnallm/io/fasta.py", "dnallm/tokenization.py", "dnallm/models.yaml"} <= names
        assert zf.read("dnallm/models.yaml") == (REPO / "models.yaml").read_bytes()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "dnallm = dnallm.cli:main" in zf.read(entry_points).decode()
        assert not any(n.startswith("tests/") for n in names)


def test_installed_wheel_reads_its_own_registry(wheel, tmp_path):
    """Installed into a fresh virtual environment (dependencies from this one), run outside the checkout."""
    env = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True
    )
    code = "import dnallm, dnallm.registry as r; print(len(dnallm.load_registry())); print(r.registry_path())"
    out = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    count, path = out.split()
    assert int(count) >= 15
    assert path.startswith(str(env)) and path.endswith("dnallm/models.yaml")
    cli = subprocess.run([env / "bin" / "dnallm", "models", "--tsv"], cwd=tmp_path, capture_output=True, text=True)
    assert cli.returncode == 0
    assert len(cli.stdout.splitlines()) == int(count) + 1
