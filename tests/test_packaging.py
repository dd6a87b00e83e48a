"""Set-up: pyproject.toml builds without setuptools warnings, the lock files pin every
dependency it names, and scripts/bootstrap.sh keeps one install stamp that a smaller
set of extras honours (run against a stand-in python that records what it was asked)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What each set installs, smallest first; bootstrap.sh takes these names.
LOCKS = {
    "": "requirements.lock",
    "simulator": "requirements-simulator.lock",
    "dev": "requirements-dev.lock",
}


def pins(lock: str) -> dict[str, Version]:
    """name -> pinned version, from the `name==version` lines of a lock file."""
    found: dict[str, Version] = {}
    for line in (ROOT / lock).read_text().splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if match:
            found[canonicalize_name(match[1])] = Version(match[2])
    return found


def wanted(extra: str) -> list[Requirement]:
    """pyproject's requirements for a set: the base, plus the extras it includes."""
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    queue = [extra] if extra else []
    while queue:
        for text in project["optional-dependencies"][queue.pop()]:
            req = Requirement(text)
            if canonicalize_name(req.name) == "atelier":  # atelier[simulator]
                queue.extend(req.extras)
            else:
                reqs.append(req)
    return reqs


def test_license_is_an_spdx_string_that_the_required_setuptools_reads() -> None:
    """A TOML table here makes every install print ~40 lines of deprecation warnings."""
    assert PYPROJECT["project"]["license"] == "MIT"
    (setuptools,) = [
        Requirement(r)
        for r in PYPROJECT["build-system"]["requires"]
        if Requirement(r).name == "setuptools"
    ]
    assert not setuptools.specifier.contains("76.9") and setuptools.specifier.contains("77.0")


def test_editable_install_uses_a_plain_path_entry() -> None:
    """Without package-dir, setuptools installs an import-hook finder and warns about it."""
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"": "."}


@pytest.mark.parametrize("extra", list(LOCKS))
def test_every_dependency_in_pyproject_is_pinned_in_its_lock(extra: str) -> None:
    locked = pins(LOCKS[extra])
    missing = [str(r) for r in wanted(extra) if canonicalize_name(r.name) not in locked]
    assert not missing, f"not in {LOCKS[extra]}: {missing}; run scripts/lock.sh"
    stale = [
        f"{r.name}=={locked[canonicalize_name(r.name)]} (wants {r.specifier})"
        for r in wanted(extra)
        if not r.specifier.contains(locked[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not stale, f"{LOCKS[extra]} is stale: {stale}; run scripts/lock.sh"


def test_each_lock_is_a_subset_of_the_next_with_the_same_versions() -> None:
    base, simulator, dev = (pins(lock) for lock in LOCKS.values())
    assert base.items() <= simulator.items() <= dev.items()


@pytest.mark.parametrize("lock", list(LOCKS.values()))
def test_locks_carry_hashes_and_name_no_index(lock: str) -> None:
    text = (ROOT / lock).read_text()
    assert "://" not in text
    assert not re.search(r"^\s*(-i|--index-url|--extra-index-url|--find-links)\b", text, re.M)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    pinned = [b for b in blocks if re.match(r"[A-Za-z0-9][\w.-]*==", b)]
    assert pinned and all("--hash=sha256:" in b for b in pinned)


def test_the_dockerfile_installs_the_runtime_lock_with_hashes() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "RUN pip install --require-hashes -r requirements.lock" in text
    assert "COPY requirements.lock ./" in text


@pytest.mark.parametrize("script", sorted((ROOT / "scripts").glob("*.sh")), ids=lambda p: p.name)
def test_scripts_ask_bootstrap_for_a_set_it_knows(script: Path) -> None:
    for call in re.findall(r"scripts/bootstrap\.sh\"?[ \t]*([^\n]*)", script.read_text()):
        assert call.strip() in ("", "simulator", "dev"), f"{script.name}: {call}"


# -- bootstrap.sh against a stand-in python -------------------------------------------------

STAND_IN = """#!/bin/sh
# A venv's python: records its arguments; fails while $FAIL_INSTALL is set.
echo "$*" >> "$LOG"
[ -z "$FAIL_INSTALL" ]
"""
MAKE_VENV = """#!/bin/sh
# python3 -m venv DIR: a venv whose python is the stand-in.
echo "$*" >> "$LOG"
mkdir -p "$3/bin" && cp "$STAND_IN" "$3/bin/python"
"""


class Checkout:
    """A copy of bootstrap.sh with pyproject.toml and the locks, and a venv of stand-ins."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "atelier"
        (self.root / "scripts").mkdir(parents=True)
        shutil.copy(ROOT / "scripts" / "bootstrap.sh", self.root / "scripts")
        for name in ["pyproject.toml", *LOCKS.values()]:
            shutil.copy(ROOT / name, self.root)
        self.venv = tmp_path / "venv"
        self.log = tmp_path / "log"
        self.log.touch()
        self.env = {
            "PATH": os.environ["PATH"],
            "ATELIER_VENV": str(self.venv),
            "LOG": str(self.log),
            "STAND_IN": str(self._script(tmp_path / "stand-in", STAND_IN)),
            "PYTHON": str(self._script(tmp_path / "make-venv", MAKE_VENV)),
            "FAIL_INSTALL": "",
        }

    @staticmethod
    def _script(path: Path, text: str) -> Path:
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    def bootstrap(self, *args: str, fail: bool = False) -> list[str]:
        """Run bootstrap.sh; the python commands it ran, one string each."""
        before = len(self.log.read_text().splitlines())
        env = self.env | {"FAIL_INSTALL": "1" if fail else ""}
        done = subprocess.run(
            ["bash", str(self.root / "scripts" / "bootstrap.sh"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (done.returncode != 0) == fail, done.stderr
        return self.log.read_text().splitlines()[before:]


def installed_lock(commands: list[str]) -> str | None:
    """Which lock file the commands installed (None: nothing installed)."""
    for command in commands:
        match = re.search(r"--require-hashes -r \S*/(requirements[\w-]*\.lock)", command)
        if match:
            assert any("--no-deps -e" in c for c in commands), commands
            return match[1]
    assert not commands, commands
    return None


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    return Checkout(tmp_path)


def test_dev_then_smaller_sets_install_nothing(checkout: Checkout) -> None:
    first = checkout.bootstrap("dev")
    assert first[0].startswith("-m venv ")
    pip = pins("requirements-dev.lock")["pip"]
    assert first[1] == f"-m pip install --quiet --upgrade pip=={pip}"  # the fast pip first
    assert installed_lock(first) == "requirements-dev.lock"
    assert installed_lock(checkout.bootstrap()) is None
    assert installed_lock(checkout.bootstrap("simulator")) is None
    assert installed_lock(checkout.bootstrap("dev")) is None


def test_a_bigger_set_installs_its_lock_once(checkout: Checkout) -> None:
    assert installed_lock(checkout.bootstrap()) == "requirements.lock"
    assert installed_lock(checkout.bootstrap()) is None
    assert installed_lock(checkout.bootstrap("simulator")) == "requirements-simulator.lock"
    assert installed_lock(checkout.bootstrap()) is None
    assert installed_lock(checkout.bootstrap("dev")) == "requirements-dev.lock"
    assert installed_lock(checkout.bootstrap("simulator")) is None


@pytest.mark.parametrize("changed", ["pyproject.toml", "requirements.lock"])
def test_a_changed_pyproject_or_lock_reinstalls_keeping_the_set(
    checkout: Checkout, changed: str
) -> None:
    checkout.bootstrap("dev")
    with (checkout.root / changed).open("a") as file:
        file.write("\n# changed\n")
    assert installed_lock(checkout.bootstrap()) == "requirements-dev.lock"
    assert installed_lock(checkout.bootstrap("dev")) is None


def test_a_failed_install_leaves_no_stamp(checkout: Checkout) -> None:
    checkout.bootstrap("dev", fail=True)
    assert installed_lock(checkout.bootstrap("dev")) == "requirements-dev.lock"


def test_an_unknown_set_is_one_line_and_exit_2(checkout: Checkout) -> None:
    done = subprocess.run(
        ["bash", str(checkout.root / "scripts" / "bootstrap.sh"), "tests"],
        env=checkout.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "simulator" in done.stderr
    assert not checkout.venv.exists()
