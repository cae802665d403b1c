"""``carenet console add-user``: the first manager's account, from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

from services.console import store
from services.console.accounts import password_matches
from shared.kit.db.pool import connect
from tests.conftest import REPO


def _add_user(database_url: str, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "console", "add-user", *args, "--password-stdin"],
        input=password + "\n",
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_add_user_makes_an_account_that_signs_in(database_url):
    done = _add_user(
        database_url,
        "mgr-wong",
        "--roles",
        "centre_manager,social_worker",
        "--sites",
        "likang",
        "--name",
        "Wong Mei",
        "--language",
        "zh_Hant",
        password="a long secret",
    )
    assert done.returncode == 0, done.stderr
    conn = await connect(database_url, "console", application="test")
    try:
        account = await store.account(conn, "mgr-wong")
    finally:
        await conn.close()
    assert account is not None
    assert account.roles == ("centre_manager", "social_worker") and account.sites == ("likang",)
    assert account.display_name == "Wong Mei" and account.language == "zh_Hant"
    assert password_matches(account.password_hash, "a long secret")
    assert "a long secret" not in account.password_hash
    again = _add_user(
        database_url, "mgr-wong", "--roles", "analyst", "--sites", "*", password="x" * 9
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_add_user_refuses_unknown_roles_sites_and_short_passwords(database_url):
    bad_role = _add_user(
        database_url, "x", "--roles", "boss", "--sites", "likang", password="p" * 10
    )
    assert bad_role.returncode == 2 and "unknown role(s) boss" in bad_role.stderr
    bad_site = _add_user(
        database_url, "x", "--roles", "analyst", "--sites", "mars", password="p" * 10
    )
    assert bad_site.returncode == 2 and "unknown site(s) mars" in bad_site.stderr
    short = _add_user(database_url, "x", "--roles", "analyst", "--sites", "*", password="short")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
