"""Three languages: every message translated, chosen per user, dates in the agency's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.console import i18n, store
from services.console.accounts import LANGUAGES
from tests.console.conftest import csrf_in, sign_in


def test_every_message_of_the_code_and_templates_is_in_every_catalogue():
    """The compare-the-catalogues test: a msgid used anywhere in the console that a catalogue
    lacks, or that zh_Hant or zh_Hans leaves untranslated, fails here (``python -m
    services.console.i18n`` prints the entries to add)."""
    used = i18n.used_messages()
    assert "Find or register a person" in used and "Sign in" in used  # code and templates
    for language in LANGUAGES:
        assert i18n.missing(language) == [], language


def test_the_catalogues_keep_python_format_placeholders():
    for language in ("zh_Hant", "zh_Hans"):
        for message in i18n.catalogue(language):
            if message.id and "%(" in message.id:
                for name in ("%(n)s", "%(name)s", "%(site)s"):
                    assert (name in message.id) == (name in message.string), message.id


async def test_switching_language_renders_chinese_and_is_kept_on_the_account(
    browser, add_user, console
):
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    home = await browser.get("/")
    assert "Find or register a person" in home.text
    switched = await browser.post(
        "/language", data={"csrf": csrf_in(home.text), "language": "zh_Hant", "back": "/"}
    )
    assert switched.status_code == 303
    home = await browser.get("/")
    assert "搜尋或登記人士" in home.text and "登出" in home.text and 'lang="zh-Hant"' in home.text
    account = await store.account(console.pool, "sw-lee")
    assert account is not None and account.language == "zh_Hant"
    await browser.post(
        "/language", data={"csrf": csrf_in(home.text), "language": "zh_Hans", "back": "/people"}
    )
    people = await browser.get("/people")
    assert "搜索或登记人员" in people.text and "常用名称" in people.text


async def test_an_account_in_chinese_sees_chinese_from_sign_in(browser, add_user):
    await add_user("sw-chan", ["social_worker"], language="zh_Hans")
    await sign_in(browser, "sw-chan")
    assert "退出登录" in (await browser.get("/")).text


def test_dates_are_shown_in_the_organisations_zone_in_each_language():
    zone = ZoneInfo("Asia/Hong_Kong")
    late = datetime(2026, 10, 5, 17, 30, tzinfo=UTC)  # 01:30 on the 6th in Hong Kong
    with i18n.speaking("en"):
        assert i18n.format_day(late, zone) == "Oct 6, 2026"
    with i18n.speaking("zh_Hant"):
        assert i18n.format_day(late, zone, "long") == "2026年10月6日"
        assert i18n.format_moment(late, zone).startswith("2026年10月6日")
    with i18n.speaking("zh_Hans"):
        assert i18n.format_day("2026-10-05", zone, "long") == "2026年10月5日"
