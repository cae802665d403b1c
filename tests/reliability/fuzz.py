"""Fuzzing every command and query of every service, from the contracts' JSON schemas and beyond.

Payloads come from hypothesis strategies built from each pydantic model's JSON schema (valid
ones), mutated (wrong types, missing and unknown fields, NUL and other control characters, huge
strings, unicode), plus hand-made bodies no schema describes: not JSON, not UTF-8, a 100,000-deep
``[``, a 900 KB body. Every reply must have the contract's shape (``ok`` true, or ``ok`` false
with a code of the contract's list other than ``internal``), and come within the timeout.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, get_args

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from shared.kit.contracts.catalogue import CATALOGUE
from shared.kit.contracts.envelope import command_subject, query_subject
from shared.kit.contracts.public import SERVICES, load_public_contracts
from shared.kit.contracts.replies import ErrorCode, Reply
from tests.identity import HEAD_OFFICE
from tests.reliability.ledger import Expectations, effects_of

CONTRACT_CODES = frozenset(get_args(ErrorCode)) - {"internal"}
SITE = "likang"
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
NASTY_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\x01\x02\x1b[31m",
        "\u202e\u200b",
        "\ud7ff\ue000\U0001f600",
        " ",
        "\t\n",
        "'; DROP TABLE people; --",
        "😀" * 50,
        "x" * 100_000,
    ]
)


def _strategy(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return _strategy(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return st.one_of([_strategy(s, defs) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return st.uuids().map(str)
        if fmt == "date":
            return st.dates().map(lambda d: d.isoformat())
        if fmt == "time":
            return st.times().map(lambda t: t.isoformat())
        if fmt == "date-time":
            return st.datetimes().map(lambda t: t.isoformat() + "Z")
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(
            min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 40), 40)
        )
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -(2**40) - 1) + 1)
        high = schema.get("maximum", schema.get("exclusiveMaximum", 2**40 + 1) - 1)
        return st.integers(min_value=low, max_value=high)
    if kind == "number":
        return st.floats(
            min_value=schema.get("minimum", schema.get("exclusiveMinimum")),
            max_value=schema.get("maximum", schema.get("exclusiveMaximum")),
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(
            _strategy(schema.get("items", {}), defs),
            min_size=low,
            max_size=max(low, min(schema.get("maxItems", 4), 4)),
        )
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: _strategy(v, defs) for k, v in properties.items() if k in required},
            optional={k: _strategy(v, defs) for k, v in properties.items() if k not in required},
        )
    return ANY_JSON


def _mutate(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """Break a valid payload in one or two ways a careless or hostile client would."""
    payload = dict(payload)
    for _ in range(draw(st.integers(1, 2))):
        how = draw(
            st.sampled_from(
                ["drop", "wrong_type", "nasty_text", "unknown_field", "deep_value", "null"]
            )
        )
        keys = sorted(payload)
        if how == "unknown_field" or not keys:
            payload[draw(st.text(min_size=1, max_size=10))] = draw(ANY_JSON)
            continue
        key = draw(st.sampled_from(keys))
        if how == "drop":
            payload.pop(key)
        elif how == "wrong_type":
            payload[key] = draw(ANY_JSON)
        elif how == "nasty_text":
            payload[key] = draw(NASTY_TEXT)
        elif how == "deep_value":
            value: Any = "bottom"
            for _ in range(draw(st.integers(50, 400))):
                value = [value]
            payload[key] = value
        else:
            payload[key] = None
    return payload


def valid_strategy(model: type) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads the model's JSON schema allows (its cross-field rules may still refuse some)."""
    schema = model.model_json_schema()  # type: ignore[attr-defined]
    return _strategy(schema, schema.get("$defs", {}))


def payload_strategy(model: type) -> st.SearchStrategy[dict[str, Any]]:
    """Valid payloads of a contract model, and mutated ones, about half each."""
    valid = valid_strategy(model)

    @st.composite
    def mutated(draw: st.DrawFn) -> dict[str, Any]:
        return _mutate(draw, draw(valid))

    return st.one_of(valid, mutated())


def generate(strategy: st.SearchStrategy[Any], examples: int, run_seed: int) -> list[Any]:
    """Draw up to ``examples`` values from ``strategy`` with hypothesis (no shrinking)."""
    drawn: list[Any] = []

    @seed(run_seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def special_bodies() -> list[tuple[str, bytes]]:
    """Bodies no schema describes."""
    big = "x" * 900_000
    return [
        ("empty", b""),
        ("not_json", b"this is not json"),
        ("not_utf8", b"\xff\xfe\xfd{"),
        ("json_null", b"null"),
        ("json_array", b"[1, 2, 3]"),
        ("json_string", b'"hello"'),
        ("deep_array_100k", b"[" * 100_000),
        ("deep_object_50k", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        (
            "nul_in_json",
            b'{"actor": "a\\u0000b", "command_id": "' + str(uuid.uuid4()).encode() + b'"}',
        ),
        ("raw_nul", b'{"actor": "a\x00b"}'),
        ("nan", b'{"actor": NaN, "minutes": Infinity}'),
        ("huge_number", b'{"minutes": 1' + b"0" * 5000 + b"}"),
        ("body_900kb", json.dumps({"command_id": str(uuid.uuid4()), "actor": big}).encode()),
        ("body_900kb_unknown", json.dumps({"padding": big}).encode()),
    ]


@dataclass
class FuzzReport:
    payloads: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    # "<payload kind>: <outcome>" -> subjects it happened on
    broken: dict[str, set[str]] = field(default_factory=dict)
    expected: Expectations = field(default_factory=Expectations)
    acknowledged: int = 0

    def summary(self) -> list[str]:
        """One line per kind of payload and broken outcome, with how many subjects."""
        return [
            f"{what} on {len(subjects)} subjects (e.g. {sorted(subjects)[0]})"
            for what, subjects in sorted(self.broken.items())
        ]


def _fits(spec: Any, payload: dict[str, Any]) -> bool:
    try:
        spec.model.model_validate(payload)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True)
class Job:
    label: str
    kind: str
    service: str
    name: str
    subject: str
    body: bytes
    payload: dict[str, Any] | None
    authorization: str | None = f"Bearer {HEAD_OFFICE}"
    """The header sent: a token good for every role and site, unless the job is about tokens."""


BAD_TOKENS = (
    ("no_token", None),
    ("garbage_token", "Bearer not.a.jwt"),
    ("unsigned_token", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
)
"""Each must be refused ``unauthenticated`` whatever the body: never ok, never anything else."""


def jobs_for(examples: int, run_seed: int) -> list[Job]:
    """Every payload to send: generated ones per command and query, then the special bodies."""
    load_public_contracts()
    # Only carenet's own services: in a test run the catalogue also holds the example services
    # other tests register, which nothing in the campaign serves.
    catalogue = [
        ("cmd", spec) for spec in CATALOGUE.commands.values() if spec.service in SERVICES
    ] + [("qry", spec) for spec in CATALOGUE.queries.values() if spec.service in SERVICES]
    jobs: list[Job] = []
    for number, (kind, spec) in enumerate(catalogue):
        subject_of = command_subject if kind == "cmd" else query_subject
        subject = subject_of(SITE, spec.service, spec.name)
        for payload in generate(payload_strategy(spec.model), examples, run_seed + number):
            if kind == "cmd" and isinstance(payload.get("command_id"), str):
                payload["command_id"] = str(uuid.uuid4())  # never collide with an earlier one
            payload.pop("actor", None)  # the token's sub acts; the actor jobs are below
            body = json.dumps(payload, default=str).encode()
            jobs.append(Job("generated", kind, spec.service, spec.name, subject, body, payload))
        for label, body in special_bodies():
            jobs.append(Job(label, kind, spec.service, spec.name, subject, body, None))
        # A valid payload but for its actor: NUL (PostgreSQL refuses it in text), and blank.
        fields = spec.model.model_fields
        bases = [
            b for b in generate(valid_strategy(spec.model), 20, run_seed + number) if _fits(spec, b)
        ]
        if bases:
            for label, authorization in BAD_TOKENS:
                payload = dict(bases[0])
                if kind == "cmd":
                    payload["command_id"] = str(uuid.uuid4())
                body = json.dumps(payload, default=str).encode()
                jobs.append(
                    Job(label, kind, spec.service, spec.name, subject, body, None, authorization)
                )
        if bases and "actor" in fields:
            for label, actor in (("nul_in_actor", "a\x00b"), ("blank_actor", "   ")):
                if label == "blank_actor" and kind != "cmd":
                    continue
                payload = {**bases[0], "actor": actor}
                if kind == "cmd":
                    payload["command_id"] = str(uuid.uuid4())
                body = json.dumps(payload, default=str).encode()
                jobs.append(Job(label, kind, spec.service, spec.name, subject, body, payload))
        # A site the organisation does not have, with a valid-looking body.
        unknown_site = b'{"command_id": "' + str(uuid.uuid4()).encode() + b'"}'
        jobs.append(
            Job(
                "unknown_site",
                kind,
                spec.service,
                spec.name,
                subject_of("nowhere", spec.service, spec.name),
                unknown_site,
                None,
            )
        )
    return jobs


async def fuzz(
    nc: NatsClient,
    *,
    examples: int,
    run_seed: int,
    timeout: float = 10.0,
    concurrency: int = 16,
) -> FuzzReport:
    """Fuzz every command and query; returns counts by outcome and every broken promise."""
    report = FuzzReport()
    jobs = jobs_for(examples, run_seed)
    if not jobs:
        raise AssertionError("the contract catalogue is empty: nothing to fuzz")
    limit = asyncio.Semaphore(concurrency)

    def broke(job: Job, outcome: str, detail: str) -> None:
        report.broken.setdefault(f"{job.label}: {outcome}", set()).add(job.subject)
        report.failures.append(f"{job.subject} [{job.label}]: {outcome}: {detail}")

    async def send(job: Job) -> None:
        async with limit:
            report.payloads += 1
            try:
                headers = {"Authorization": job.authorization} if job.authorization else None
                message = await nc.request(job.subject, job.body, timeout=timeout, headers=headers)
            except Exception as exc:  # noqa: BLE001 - no reply of any kind is the finding
                outcome = f"no reply ({type(exc).__name__})"
                report.outcomes[outcome] += 1
                broke(job, outcome, f"{len(job.body)}-byte body {job.body[:80]!r}")
                return
            try:
                reply = Reply.model_validate_json(message.data)
            except ValidationError:
                report.outcomes["malformed reply"] += 1
                broke(job, "malformed reply", repr(message.data[:200]))
                return
            if reply.ok and job.label == "blank_actor":
                broke(job, "accepted a blank actor", repr(job.body[:120]))
            refused = reply.error is not None and reply.error.code == "unauthenticated"
            if job.label in dict(BAD_TOKENS) and not refused:
                broke(job, "a bad token was not refused unauthenticated", repr(reply)[:200])
                return
            if reply.ok:
                report.outcomes["ok"] += 1
                if job.kind == "cmd" and job.payload is not None:
                    report.acknowledged += 1
                    report.expected.add(
                        effects_of(job.service, job.name, job.payload, reply.result or {})
                    )
                return
            assert reply.error is not None
            code = reply.error.code
            report.outcomes[code] += 1
            if code not in CONTRACT_CODES:
                broke(job, code, f"{reply.error.message} for {job.body[:120]!r}")

    await asyncio.gather(*(send(job) for job in jobs))
    return report
