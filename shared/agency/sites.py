"""The organisation's sites, read from the one TOML file every service shares."""

from __future__ import annotations

import re
import tomllib
from calendar import isleap
from datetime import date, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SITE_CODE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
"""A site's code, as it appears in subjects and envelopes."""


SiteKind = Literal["head_office", "centre", "clubhouse", "street_programme", "service_unit"]
Share = Literal["events", "summaries"]
"""What a site running its own servers shares with head office: every event of its services'
streams, or only its published summaries (cross-border: aggregates, small counts hidden)."""


class Site(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    code: str = Field(pattern=SITE_CODE.pattern)
    name: str
    kind: SiteKind
    parent: str | None = None
    own_deployment: bool = False
    """The site runs its own NATS, PostgreSQL and services (for itself and the sites below it
    that have none of their own), joined to head office by a leaf node."""
    share: Share = "events"

    @model_validator(mode="after")
    def _shares_only_from_its_own_deployment(self) -> Site:
        if self.share != "events" and not self.own_deployment:
            raise ValueError(f"site {self.code}: share applies only with own_deployment = true")
        return self


class Retention(BaseModel):
    """``[retention]``: how long personal data of a person is kept once nothing happens with
    them (no running case, nothing recorded): ``personal_data_years`` (or, for trials and
    tests, ``personal_data_days``; both given: the shorter). Intake's daily job erases it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    personal_data_years: int | None = Field(default=None, ge=1, le=100)
    personal_data_days: int | None = Field(default=None, ge=1, le=36500)

    def cutoff(self, today: date) -> date | None:
        """The first day that still counts as recent: a person with nothing on or after it
        is erased. None: no rule."""
        cutoffs = []
        if self.personal_data_years is not None:
            year = today.year - self.personal_data_years
            # 29 February, in a year without one, is the 28th.
            leap_day_missing = (today.month, today.day) == (2, 29) and not isleap(year)
            cutoffs.append(today.replace(year=year, day=28 if leap_day_missing else today.day))
        if self.personal_data_days is not None:
            cutoffs.append(today - timedelta(days=self.personal_data_days))
        return max(cutoffs) if cutoffs else None


class Organisation(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    timezone: str = "Asia/Hong_Kong"
    sites: list[Site]
    retention: Retention = Retention()
    """The retention rule for personal data (none unless the sites file has ``[retention]``)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _parents_exist_without_cycles(self) -> Organisation:
        codes = [site.code for site in self.sites]
        if len(set(codes)) != len(codes):
            raise ValueError("site codes must be unique")
        by_code = {site.code: site for site in self.sites}
        for site in self.sites:
            seen = {site.code}
            parent = site.parent
            while parent is not None:
                if parent not in by_code:
                    raise ValueError(f"site {site.code}: parent {parent!r} is not a site")
                if parent in seen:
                    raise ValueError(f"site {site.code}: parent chain loops")
                seen.add(parent)
                parent = by_code[parent].parent
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def site(self, code: str) -> Site:
        for site in self.sites:
            if site.code == code:
                return site
        raise KeyError(code)

    def codes(self) -> list[str]:
        return [site.code for site in self.sites]

    def with_descendants(self, code: str) -> list[str]:
        """The site and every site below it: a parent's figures include its children."""
        self.site(code)
        found = [code]
        frontier = [code]
        while frontier:
            current = frontier.pop()
            for site in self.sites:
                if site.parent == current:
                    found.append(site.code)
                    frontier.append(site.code)
        return found

    def with_ancestors(self, code: str) -> list[str]:
        """The site and every site above it, nearest first: those whose staff and volunteers
        serve it too."""
        found = [code]
        parent = self.site(code).parent
        while parent is not None:
            found.append(parent)
            parent = self.site(parent).parent
        return found

    def shares_beyond(self, home: str, at: str) -> bool:
        """Whether naming a person of site ``home`` at site ``at`` shares their data beyond
        their site, which needs their ``data_sharing`` consent: ``at`` is neither ``home`` nor
        a site below it. A site runs the sites below it (its staff's tokens reach them, its
        volunteers serve them), so work there stays within the unit that holds the person's
        record; a parent, a sibling or another branch is another unit. An unknown site is
        always beyond."""
        if home not in self.codes():
            return True
        return at not in self.with_descendants(home)

    def served(self, spec: str) -> list[str]:
        """Resolve ``CARENET_SITES`` (comma-separated codes or ``*``) against the file."""
        spec = spec.strip()
        if spec == "*":
            return self.codes()
        wanted = [part.strip() for part in spec.split(",") if part.strip()]
        if not wanted:
            raise ValueError("names no site")
        unknown = [code for code in wanted if code not in self.codes()]
        if unknown:
            raise ValueError(f"unknown site(s) {', '.join(unknown)}")
        return wanted

    def deployments(self) -> list[Site]:
        """The sites that run their own servers and join head office."""
        return [site for site in self.sites if site.own_deployment]

    def served_by_deployment(self, code: str) -> list[str]:
        """What the deployment of site ``code`` serves: the site and the sites below it, except
        those (and theirs) that run their own deployment."""
        if not self.site(code).own_deployment:
            raise ValueError(f"site {code} has no own_deployment = true in the sites file")
        found = [code]
        frontier = [code]
        while frontier:
            current = frontier.pop()
            for site in self.sites:
                if site.parent == current and not site.own_deployment:
                    found.append(site.code)
                    frontier.append(site.code)
        return found

    def seen_at_head_office(self) -> list[str]:
        """The sites head office has every event of: all but those a summaries-only deployment
        serves (head office has only their published summaries)."""
        hidden = {
            code
            for site in self.deployments()
            if site.share == "summaries"
            for code in self.served_by_deployment(site.code)
        }
        return [code for code in self.codes() if code not in hidden]


def load_organisation(path: Path) -> Organisation:
    """Read and validate the sites file; raises ``ValueError`` with a one-line reason."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return Organisation.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']}") from exc


DEMO_ORGANISATION = Path(__file__).parent / "demo_organisation.toml"
