"""``carenet console add-user``: make a staff account (the first manager's included)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from services.console.accounts import StaffAccount
from shared.agency.sites import DEMO_ORGANISATION, load_organisation


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    console = sub.add_parser("console", help="the staff web console: its accounts")
    actions = console.add_subparsers(dest="console_command", required=True)
    add = actions.add_parser(
        "add-user",
        help="make a staff account for the console",
        description="Make a console account. The username is the staff id the services "
        "record as actor (the sub of the tokens the console issues). The password is read "
        "from standard input (one line).",
    )
    add.add_argument("username")
    add.add_argument("--roles", required=True, type=_names, help="e.g. social_worker")
    add.add_argument("--sites", required=True, type=_names, help="site codes, or * (all)")
    add.add_argument(
        "--password-stdin", action="store_true", required=True, help="read the password from stdin"
    )
    add.add_argument("--name", default=None, help="the name shown (default: the username)")
    add.add_argument("--language", default="en", help="en, zh_Hant or zh_Hans (default en)")
    add.add_argument("--data", default=None, help="where `carenet up` keeps up.json")
    add.set_defaults(handler=_add_user)


def _add_user(args: argparse.Namespace) -> int:
    from services.console.accounts import AccountError, new_account
    from shared.cli.client import database_url

    database = database_url(args.data)
    if database is None:
        print(
            "carenet console add-user: set DATABASE_URL (or run `make up`, which writes up.json)",
            file=sys.stderr,
        )
        return 2
    organisation = load_organisation(Path(os.environ.get("CARENET_CONFIG") or DEMO_ORGANISATION))
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        account = new_account(
            args.username,
            password,
            roles=args.roles,
            sites=args.sites,
            site_codes=organisation.codes(),
            display_name=args.name,
            language=args.language,
        )
    except AccountError as exc:
        print(f"carenet console add-user: {exc}", file=sys.stderr)
        return 2
    if not asyncio.run(_save(database, account)):
        print(f"carenet console add-user: {args.username} already exists", file=sys.stderr)
        return 1
    print(f"added {account.username} ({', '.join(account.roles)} at {', '.join(account.sites)})")
    return 0


async def _save(database: str, account: StaffAccount) -> bool:
    return (await save_accounts(database, [account]))[0]


async def save_accounts(database: str, accounts: list[StaffAccount]) -> list[bool]:
    """Add each account not there yet (the console's schema migrated first); per account,
    whether it was added (False: one by that username exists and is kept as it is)."""
    from services.console import store
    from services.console.app import migrate_schema
    from services.console.settings import schema_from
    from shared.kit.db.pool import connect

    schema = schema_from(os.environ)
    await migrate_schema(database, schema)
    conn = await connect(database, schema, application="carenet-console-add-user")
    try:
        return [await store.add_account(conn, account) for account in accounts]
    finally:
        await conn.close()
