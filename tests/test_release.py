"""What a release installs: the locks pin versions that satisfy pyproject.toml's ranges (so a deployment installs
what CI tested), Procfile platforms read the same pins, and the optional extras stay optional."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra in extras:
        listed += project["optional-dependencies"][extra]
    return [Requirement(text) for text in listed]


def _unsatisfied(lock: str, requirements: list[Requirement]) -> list[str]:
    pins = _pins(ROOT / lock)
    return [
        f"{req} (locked: {pins.get(canonicalize_name(req.name), 'missing')})"
        for req in requirements
        if not req.specifier.contains(pins.get(canonicalize_name(req.name), "0.dev0"), prereleases=True)
        or canonicalize_name(req.name) not in pins
    ]


def test_the_production_lock_pins_every_dependency_within_pyprojects_ranges():
    assert _unsatisfied("requirements.lock", _requirements("postgres")) == [], "run ./dev lock"


def test_the_development_lock_pins_every_extra_within_pyprojects_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = tuple(project["optional-dependencies"])
    assert {"postgres", "richmenu", "dev"} <= set(extras)
    assert _unsatisfied("requirements-dev.lock", _requirements(*extras)) == [], "run ./dev lock"


def test_ci_installs_the_very_versions_a_deployment_installs():
    production, development = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    assert {
        name: (version, development.get(name))
        for name, version in production.items()
        if development.get(name) != version
    } == {}


def test_every_locked_package_is_hash_checked():
    for lock in ("requirements.lock", "requirements-dev.lock"):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text())
        pinned = [block for block in blocks if PIN.match(block)]
        assert pinned and all("--hash=sha256:" in block for block in pinned), lock


def test_procfile_platforms_install_the_production_pins_and_the_project():
    lines = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == ".[postgres]"
    assert _pins(ROOT / "requirements.txt") == _pins(ROOT / "requirements.lock")


def test_a_deployment_installs_neither_pillow_nor_the_test_tools():
    production = _pins(ROOT / "requirements.lock")
    assert {"pillow", "pytest", "playwright", "ruff", "mypy"} & set(production) == set()
    assert "psycopg" in production


def test_kosodate_richmenu_render_says_how_to_install_pillow_when_it_is_absent(tmp_path):
    # A PIL package that cannot be imported stands for an installation without the richmenu extra.
    fake = tmp_path / "without-pillow" / "PIL"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("No module named PIL")\n')
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "APP_MODE": "test",
        "PYTHONPATH": str(fake.parent),
    }
    out = tmp_path / "menu.png"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kosodate"), "richmenu", "render", "--out", str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "pip install 'kosodate-line-bot[richmenu]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
