"""The image's contents without Docker: the package built from exactly what the Dockerfile
copies, installed into a fresh venv, runs a service that answers a command.

No Docker engine runs here and base images cannot be pulled, so the Dockerfile's COPY lines
are followed by hand (honouring .dockerignore) into a build context of their own.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path, PurePosixPath

import nats
import pytest

from shared.kit.bus.requests import request
from shared.local.devservers import free_port
from tests.conftest import REPO, eventually
from tests.identity import HEAD_OFFICE, JWKS

PACKAGE_DATA = ("*.sql", "*.toml")


def _instructions(dockerfile: Path) -> list[tuple[str, list[str]]]:
    """(instruction, arguments) per line, with continuation lines joined."""
    joined: list[str] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(parts[0].upper(), parts[1:]) for parts in map(shlex.split, joined) if parts]


def _ignored(relative: PurePosixPath, patterns: list[str]) -> bool:
    text = str(relative)
    return any(
        fnmatch.fnmatch(text, p) or fnmatch.fnmatch(relative.name, p.removeprefix("**/"))
        for p in patterns
    )


def build_context(repo: Path, target: Path) -> list[str]:
    """Copy into ``target`` what the Dockerfile's COPY lines copy into its WORKDIR; return the
    sources named."""
    ignore_file = repo / ".dockerignore"
    patterns = [
        line.strip()
        for line in (ignore_file.read_text().splitlines() if ignore_file.exists() else [])
        if line.strip() and not line.startswith("#")
    ]
    sources: list[str] = []
    for instruction, arguments in _instructions(repo / "Dockerfile"):
        if instruction == "ADD":
            pytest.fail("the Dockerfile uses ADD; this test follows COPY only")
        if instruction != "COPY":
            continue
        paths = [a for a in arguments if not a.startswith("--")]
        assert not any(a.startswith("--from") for a in arguments), "multi-stage COPY"
        *names, destination = paths
        into = target / destination.removeprefix("/app/").removeprefix("./")
        for name in names:
            sources.append(name)
            source = repo / name
            if source.is_dir():
                for file in sorted(source.rglob("*")):
                    relative = PurePosixPath(file.relative_to(repo).as_posix())
                    if file.is_file() and not _ignored(relative, patterns):
                        copied = into / file.relative_to(source)
                        copied.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(file, copied)
            else:
                copied = into / source.name if destination.endswith("/") else into
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copied)
    return sources


def test_the_dockerfile_copies_are_parsed_from_its_copy_lines(tmp_path: Path) -> None:
    sources = build_context(REPO, tmp_path)
    assert {"pyproject.toml", "shared/", "services/"} <= set(sources)
    assert (tmp_path / "pyproject.toml").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    assert not (tmp_path / "tests").exists()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with carenet installed from the Dockerfile's build context."""
    root = tmp_path_factory.mktemp("image")
    context = root / "app"
    context.mkdir()
    build_context(REPO, context)
    venv = root / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(context)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"fresh venv with carenet installed in {time.monotonic() - started:.1f}s")
    return python


def _site_packages(python: Path, cwd: Path) -> Path:
    found = subprocess.run(
        [str(python), "-c", "import shared, pathlib; print(pathlib.Path(shared.__file__).parent)"],
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(found.stdout.strip()).parent


def test_the_installed_package_holds_every_data_file_of_the_source_tree(
    installed: Path, tmp_path: Path
) -> None:
    packages = _site_packages(installed, tmp_path)
    assert REPO not in packages.parents, packages
    for top in ("shared", "services"):
        for pattern in PACKAGE_DATA:
            for file in (REPO / top).rglob(pattern):
                relative = file.relative_to(REPO)
                assert (packages / relative).is_file(), f"{relative} is not in the package"


def _start(python: Path, env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    # cwd outside the repo: `-m` puts cwd on sys.path, and nothing of the checkout may load.
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(python), "-m", "services.intake"], env=env, cwd=cwd, stdout=out, stderr=out
        )


def _readyz(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            report: dict[str, object] = json.loads(response.read())
            return report
    except (OSError, urllib.error.URLError):
        return None


async def test_a_service_from_the_installed_package_answers_a_command(
    installed: Path, nats_url: str, database_url: str, tmp_path: Path
) -> None:
    packages = _site_packages(installed, tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        NATS_URL=nats_url,
        DATABASE_URL=database_url,
        CARENET_CONFIG=str(packages / "shared" / "agency" / "demo_organisation.toml"),
        CARENET_HTTP_HOST="127.0.0.1",
        CARENET_HTTP_PORT=str(port),
        CARENET_JWKS=str(JWKS),
    )
    log = tmp_path / "intake.log"
    process = _start(installed, env, tmp_path, log)
    try:

        async def ready() -> dict[str, object] | None:
            if process.poll() is not None:
                pytest.fail(f"the service exited {process.returncode}:\n{log.read_text()}")
            return await asyncio.to_thread(_readyz, port)

        report = await eventually(ready, timeout=60, interval=0.2)
        assert report["service"] == "intake"
        nc = await nats.connect(nats_url)
        try:
            reply = await request(
                nc,
                "cmd",
                "likang",
                "intake",
                "register_person",
                {
                    "command_id": str(uuid.uuid4()),
                    "preferred_name": "Ah Ming",
                    "roles": ["person_in_recovery"],
                },
                token=HEAD_OFFICE,
            )
        finally:
            await nc.close()
        assert reply.ok, reply.error
        assert reply.result is not None and reply.result["person_id"]
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
