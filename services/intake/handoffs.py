"""The handoff relay: delivers each pending transfer to the receiving site's intake.

One loop per intake instance; replicas share the work, each taking the handoff due longest ago
that no other holds (``FOR UPDATE SKIP LOCKED``) and keeping it locked while it asks. It sends
``cmd.<to_site>.intake.receive_transfer`` with ``command_id`` = the handoff's id and the
sending worker's token, so a resend after a lost answer or a crash gets the first answer and
opens nothing twice. Then, in the same transaction:

- an ok answer: the case here is ``transferred`` (pointing at the new case), the handoff
  ``completed`` and ``case.transferred`` recorded;
- a refusal (``domain.REFUSALS``; an expired token is one: ``unauthenticated``): the handoff
  ``refused`` with the reason, the case ``open`` again, nothing else changed;
- no answer (nobody serves the site, a timeout, the link cut) or ``internal``: the handoff
  stays pending, to be sent again after a delay doubling from the first retry to the longest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from services.intake import store
from services.intake.domain import Case, Handoff, retry_delay
from shared.kit import faults
from shared.kit.bus.requests import request
from shared.kit.contracts.intake import CaseTransferred, ReceiveTransfer
from shared.kit.contracts.replies import Reply
from shared.kit.db.pool import connect
from shared.kit.db.uow import Cause, UnitOfWork
from shared.kit.service import ServiceRuntime

log = logging.getLogger("carenet.intake.handoffs")


@dataclass(frozen=True)
class HandoffPolicy:
    first_retry: float = 0.5
    """Seconds before the first resend of an unanswered handoff; doubles each time."""
    longest_retry: float = 15.0
    timeout: float = 10.0
    """How long one send waits for the receiving site's answer."""
    poll_seconds: float = 5.0
    """Longest sleep between looks for due handoffs (a stored handoff wakes the relay)."""


def relay(policy: HandoffPolicy) -> Callable[[ServiceRuntime], Coroutine[Any, Any, None]]:
    """The background task that delivers pending handoffs until the instance stops."""

    async def handoff_relay(runtime: ServiceRuntime) -> None:
        backoff = 0.5
        while True:
            try:
                await _listen_and_deliver(runtime, policy)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - outages are waited out, never fatal
                log.warning("handoff relay paused: %r", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    return handoff_relay


async def _listen_and_deliver(runtime: ServiceRuntime, policy: HandoffPolicy) -> None:
    wake = asyncio.Event()
    conn = await connect(
        runtime.settings.database_url,
        "intake",
        application=f"carenet-{runtime.settings.instance}-handoffs",
        command_timeout=10,
    )
    try:
        await conn.add_listener(store.HANDOFFS_CHANNEL, lambda *_: wake.set())
        while True:
            wake.clear()
            while await deliver_one(runtime, policy):
                pass
            due_in = await store.seconds_to_next_handoff(conn)
            wait = policy.poll_seconds if due_in is None else min(due_in, policy.poll_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(wait, 0.01))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), timeout=2)


async def deliver_one(runtime: ServiceRuntime, policy: HandoffPolicy) -> bool:
    """Send the handoff due longest ago and settle its answer; False when none is due."""
    assert runtime.pool is not None and runtime.broker is not None
    zone = runtime.settings.organisation.zone
    async with UnitOfWork(runtime.pool, "intake", "intake", "", zone) as uow:
        claimed = await store.claim_due_handoff(uow.conn)
        if claimed is None:
            return False
        handoff, actor, token = claimed
        uow.cause = Cause(str(handoff.handoff_id), str(handoff.handoff_id))
        transfer = ReceiveTransfer(
            command_id=handoff.handoff_id,
            actor=actor,
            person_id=handoff.person_id,
            person=await store.transferred_person(uow.conn, handoff.person_id),
            consents=await store.transferred_consents(uow.conn, handoff.person_id),
            from_site=handoff.from_site,
            from_case_id=handoff.case_id,
            worker_id=handoff.worker_id,
            transferred_on=handoff.transferred_on,
        )
        reply = await request(
            runtime.broker.connection,
            "cmd",
            handoff.to_site,
            "intake",
            "receive_transfer",
            transfer,
            timeout=policy.timeout,
            no_responders_patience=min(2.0, policy.timeout),
            correlation_id=str(handoff.handoff_id),
            token=token,
        )
        faults.crash_point("handoff.after_answer")
        await settle(uow, handoff, reply, policy)
        await uow.commit()
    return True


async def settle(uow: UnitOfWork, handoff: Handoff, reply: Reply, policy: HandoffPolicy) -> None:
    """Record the receiving site's answer to ``handoff`` (see the module docstring)."""
    if reply.ok:
        new_case_id = UUID(str((reply.result or {})["case_id"]))
        case = await _case(uow, handoff)
        case.transfer_completed(handoff, new_case_id)
        handoff.completed(new_case_id)
        await store.save_case_transfer(uow.conn, case)
        await store.save_handoff(uow.conn, handoff)
        uow.record(
            CaseTransferred(
                case_id=case.case_id,
                person_id=case.person_id,
                to_site=handoff.to_site,
                new_case_id=new_case_id,
                transferred_on=handoff.transferred_on,
            ),
            subject=case.case_id,
            site=handoff.from_site,
        )
        log.info("handoff %s to %s completed", handoff.handoff_id, handoff.to_site)
        return
    assert reply.error is not None
    if handoff.answered(reply.error.code, reply.error.message):
        case = await _case(uow, handoff)
        case.transfer_refused()
        await store.save_case_transfer(uow.conn, case)
        await store.save_handoff(uow.conn, handoff)
        log.warning(
            "handoff %s to %s refused: %s", handoff.handoff_id, handoff.to_site, handoff.last_error
        )
        return
    delay = retry_delay(handoff.attempts, policy.first_retry, policy.longest_retry)
    await store.save_handoff(uow.conn, handoff, retry_in=delay)
    log.info(
        "handoff %s to %s not answered (%s); again in %.1f s",
        handoff.handoff_id,
        handoff.to_site,
        handoff.last_error,
        delay,
    )


async def _case(uow: UnitOfWork, handoff: Handoff) -> Case:
    case = await store.load_case(uow.conn, handoff.case_id)
    assert case is not None  # a handoff's case is never deleted
    return case
