"""Languages: Babel message catalogues compiled in memory at start (no build step), the
current user's language for the request being rendered, and dates in the organisation's zone.

Every string a user can read goes through ``_`` (Python, templates) or ``N_`` (a string
defined at import time, translated where it is shown). ``python -m services.console.i18n``
prints, as ``.po`` entries, every message the code uses that a catalogue lacks.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from services.console.accounts import LANGUAGES, Language

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
LANGUAGE_NAMES: dict[Language, str] = {
    "en": "English",
    "zh_Hant": "繁體中文",
    "zh_Hans": "简体中文",
}
"""Each language in itself, as the switch in the header shows it (never translated)."""
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
METHODS = [
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
    ("**.py", "python"),
]
"""What ``extract`` reads: the same as ``babel.cfg`` (for ``pybabel extract``)."""

_current: ContextVar[Language] = ContextVar("console_language", default="en")


def catalogue(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


@cache
def translations(language: str) -> Translations:
    compiled = BytesIO()
    write_mo(compiled, catalogue(language))
    compiled.seek(0)
    return Translations(compiled)


def load_all() -> None:
    """Compile every catalogue now, so a broken one stops the start, not a page."""
    for language in LANGUAGES:
        translations(language)


@contextmanager
def speaking(language: Language) -> Iterator[None]:
    """Render in ``language`` within the block."""
    token = _current.set(language)
    try:
        yield
    finally:
        _current.reset(token)


def use_language(language: Language) -> None:
    """``language`` for the rest of this request (its own context): a form's refusal is put
    into words before the page renders."""
    _current.set(language)


def current_language() -> Language:
    return _current.get()


def _(message: str, **values: object) -> str:
    text = translations(_current.get()).ugettext(message)
    return text % values if values else text


gettext = _


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    text = translations(_current.get()).ungettext(singular, plural, n)
    return text % ({"num": n} | values)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogues; it is translated where it is shown."""
    return message


def babel_locale(language: Language | None = None) -> str:
    return language or _current.get()


def format_day(value: date | str | None, zone: ZoneInfo, form: str = "medium") -> str:
    """A date (or the day of a moment, in ``zone``) in the current language."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(zone).date()
    return babel_date(value, format=form, locale=babel_locale())


def format_moment(value: datetime | str | None, zone: ZoneInfo, form: str = "medium") -> str:
    """A moment in ``zone``, in the current language."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return babel_datetime(value, format=form, tzinfo=zone, locale=babel_locale())


def used_messages() -> set[str]:
    """Every msgid the console's code and templates use."""
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(HERE),
        METHODS,
        keywords=KEYWORDS,
        options_map={
            "**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}
        },
    ):
        if isinstance(message, tuple):
            found.update(m for m in message if m)
        elif message:
            found.add(message)
    return found


def missing(language: str) -> list[str]:
    """The messages used that ``language``'s catalogue lacks or (but for English, whose
    message ids are the text) leaves untranslated."""
    known = catalogue(language)
    gaps = []
    for message in sorted(used_messages()):
        entry = known.get(message)
        if entry is None or entry.fuzzy or (language != "en" and not entry.string):
            gaps.append(message)
    return gaps


def _po_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    """Print what each catalogue lacks, as entries to append (and translate)."""
    gaps = 0
    for language in LANGUAGES:
        lacking = missing(language)
        gaps += len(lacking)
        if lacking:
            print(f"# {LOCALE_DIR / language / 'LC_MESSAGES' / 'messages.po'}")
        for message in lacking:
            print(f'msgid {_po_string(message)}\nmsgstr ""\n')
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
