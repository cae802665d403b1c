"""The operator's page: the services' status, as ``carenet status`` reads it."""

from __future__ import annotations

import re
from dataclasses import replace

from services.console.web import NAV
from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from shared.kit.bus.streams import DLQ_STREAM, dlq_config, ensure_stream
from tests.console.conftest import sign_in


async def test_the_operator_sees_each_service_ready_and_its_dead_letters(
    browser, add_user, console, start_service, nats_url, nc
):
    await start_service(("intake", build_intake))  # groups reads intake's stream
    groups = await start_service(("groups", build_groups))
    console.settings = replace(
        console.settings,
        status_urls=(f"groups=http://127.0.0.1:{groups.status.port}",),
        admin_nats_url=nats_url,
    )
    js = nc.jetstream()
    await ensure_stream(js, dlq_config())
    await js.publish("dlq.groups.test", b"{}", stream=DLQ_STREAM)
    await add_user("ops", ["operator"], sites=("*",))
    await sign_in(browser, "ops")
    home = await browser.get("/")
    assert 'href="/operations"' in home.text
    page = await browser.get("/operations")
    assert page.status_code == 200
    assert "Every service is ready." in page.text
    row = re.search(r'<tr data-service="groups">(.*?)</tr>', page.text, re.S)
    assert row is not None and ">Yes<" in row[1]
    dead = re.search(r'class="dead-letters">(\d+)<', row[1])
    assert dead is not None and int(dead[1]) >= 1  # NATS is the session's: others may add
    assert "INTAKE" in page.text  # its consumers, by stream
    assert "Queue lag is as the services last reported it" not in page.text


async def test_a_service_not_answering_is_shown_not_ready(browser, add_user, console):
    console.settings = replace(console.settings, status_urls=("intake=http://127.0.0.1:9",))
    await add_user("ops", ["operator"], sites=("*",))
    await sign_in(browser, "ops")
    page = await browser.get("/operations")
    assert "Some services are not ready." in page.text
    assert re.search(r'<tr data-service="intake" class="not-ready">', page.text)
    assert "unreachable" in page.text


async def test_only_an_operator_has_the_operations_page(browser, add_user):
    await add_user("mgr-wong", ["centre_manager"])
    await sign_in(browser, "mgr-wong")
    assert 'href="/operations"' not in (await browser.get("/")).text
    assert (await browser.get("/operations")).status_code == 403
    page = next(p for p in NAV.pages if p.path == "/operations")
    assert page.roles == ("operator",) and page.requests == ()
