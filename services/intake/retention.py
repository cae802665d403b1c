"""The retention rule: a daily job erases the personal data of people with nothing going on.

The sites file's ``[retention]`` (``shared/agency/sites.py``) says how long; each day, for each
site it serves, intake erases the people registered there with no running case and nothing
recorded about them since the cut-off, through the same path as ``erase_person`` (reason
``retention``, one ``person.erased`` each). The run is claimed in ``retention_runs`` in the
same transaction as its erasures, like reporting's published summaries: of two replicas, the
second waits on the first's claim and then finds the day's run done, so exactly one erases;
a run that fails rolls back, claim included, and is tried again at the next check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.intake import store
from services.intake.handlers import erase
from shared.agency.sites import Organisation
from shared.kit.db.uow import UnitOfWork
from shared.kit.service import ServiceRuntime

log = logging.getLogger("carenet.intake.retention")

REASON = "retention"


@dataclass(frozen=True)
class RetentionRun:
    site: str
    run_on: date
    cutoff: date
    erased: list[UUID]


async def apply_retention(
    pool: asyncpg.Pool, organisation: Organisation, site: str, today: date
) -> RetentionRun | None:
    """Run the rule for ``site`` on ``today`` unless it ran that day already (None then, and
    when the sites file has no rule)."""
    cutoff = organisation.retention.cutoff(today)
    if cutoff is None:
        return None
    async with UnitOfWork(pool, "intake", "intake", site, organisation.zone) as uow:
        if not await store.claim_retention_run(uow.conn, site, today, cutoff):
            return None
        erased: list[UUID] = []
        for person_id in await store.due_for_erasure(uow.conn, site, cutoff):
            # Locked, then asked again: a case opened meanwhile keeps the person's data.
            await store.lock_person(uow.conn, person_id)
            if await store.due_for_erasure(uow.conn, site, cutoff, only=person_id):
                await erase(uow, person_id, REASON)
                erased.append(person_id)
        await store.save_retention_run(uow.conn, site, today, erased)
        await uow.commit()
    log.info(
        "retention at %s: erased the personal data of %d people with nothing since %s",
        site,
        len(erased),
        cutoff.isoformat(),
    )
    return RetentionRun(site, today, cutoff, erased)


async def apply_due(runtime: ServiceRuntime, today: date | None = None) -> list[RetentionRun]:
    """Today's runs, for every site the instance serves, that had not run yet."""
    assert runtime.pool is not None
    organisation = runtime.settings.organisation
    day = today or datetime.now(organisation.zone).date()
    runs = []
    for site in runtime.settings.sites:
        run = await apply_retention(runtime.pool, organisation, site, day)
        if run is not None:
            runs.append(run)
    return runs


def daily(interval: float) -> Callable[[ServiceRuntime], Coroutine[Any, Any, None]]:
    """The background task: every ``interval`` seconds, run the day's retention if not run."""

    async def retention_daily(runtime: ServiceRuntime) -> None:
        if runtime.settings.organisation.retention.cutoff(date.today()) is None:
            return  # no rule in the sites file
        while True:
            try:
                await apply_due(runtime)
            except asyncio.CancelledError:
                raise
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("the retention run failed, will retry: %s", exc)
            except Exception:
                log.exception("the retention run failed, will retry")
            await asyncio.sleep(interval)

    return retention_daily
