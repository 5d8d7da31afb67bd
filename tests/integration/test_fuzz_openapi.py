"""
schemathesis over a real gateway's ``/openapi.json`` (issue 11): generated
requests for every operation, valid and invalid, with the admin key and
without credentials, then stateful sequences (upload, then download,
metadata, delete by the returned id), against a standalone ``twistd``
process.  Zero ``5xx``, and every response matches the document: its status
is listed, its content type and body schema are the documented ones, and
invalid input is refused with a ``4xx``; without credentials every operation
but ``/health`` and ``/openapi.json`` answers ``401``.

Bounded: :data:`EXAMPLES` cases per operation and mode with the key,
:data:`ANONYMOUS_EXAMPLES` without, :data:`STATEFUL` scenarios; seeded by
``S3NODE_FUZZ_SEED`` (default 1109).  Run with ``-s`` for what was tried.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from integration.hostile_gateway import hostile_standalone, log_events
from support.auth import BASIC

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("S3NODE_FUZZ_SEED", "1109"))
#: generated cases per operation and generation mode
EXAMPLES = 60
#: generated cases per operation and generation mode, without credentials
ANONYMOUS_EXAMPLES = 15
#: stateful scenarios (each a few linked calls)
STATEFUL = 30
#: what every fuzzing request carries, but the anonymous run's
ADMIN = {"Authorization": BASIC}
#: the operations anyone may call
PUBLIC = ("/health", "/openapi.json")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The standalone process and its URL."""
    # wrong credentials are refused after --auth-failure-delay: short here, to fuzz fast
    with hostile_standalone(tmp_path_factory.mktemp("fuzz-openapi"),
                            "--auth-failure-delay", "0.01") as running:
        yield running


def _schema(url: str) -> Any:
    """The served document, without the operations that change the node set
    (``POST /nodes``, ``POST /nodes/{id}/drain``, ``DELETE /nodes/{id}``): a
    fuzzer that drains or forgets the nodes on purpose leaves too few of them,
    and the 503s that follow are the documented answer (tests/gateway covers
    those routes' input checks; ``GET /nodes/{id}``, ``/cluster`` and
    ``/cluster/plan`` are fuzzed)."""
    import schemathesis

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    for operation_id in ("forgetNode", "addNode", "drainNode"):
        schema = schema.exclude(operation_id=operation_id)
    return schema


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance,
            response_headers_conformance, response_schema_conformance]


def _settings(examples: int, **kw: Any) -> Any:
    from hypothesis import HealthCheck, Phase, settings

    return settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                    print_blob=True, **kw)


def _headers_invalid(case: Any) -> bool:
    """Whether a negative case's invalid part is its headers (where the credentials go)."""
    from schemathesis import GenerationMode
    from schemathesis.core.parameters import ParameterLocation

    meta = getattr(case, "meta", None)
    info = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
    return info is not None and info.mode is GenerationMode.NEGATIVE


def _fuzz(strategy: Any, url: str, checks: list[Any], statuses: Counter[str],
          tried: Counter[str], label: str, *, headers: dict[str, str] | None = ADMIN,
          examples: int = EXAMPLES, negative: bool = False) -> None:
    from hypothesis import given, seed

    @seed(SEED)
    @_settings(examples)
    @given(case=strategy)
    def run(case: Any) -> None:
        sent = headers
        if headers is None and case.headers:
            case.headers.pop("Authorization", None)  # anonymous: no credentials at all
        elif negative and _headers_invalid(case):
            sent = None  # the invalid part is the credentials (absent or malformed): 401
        elif case.headers:
            case.headers.pop("Authorization", None)  # ours, not a generated one
        response = case.call(base_url=url, timeout=20, headers=sent)
        statuses[str(response.status_code)] += 1
        tried[label] += 1
        case.validate_response(response, checks=checks)

    run()


def test_every_operation_conforms_to_the_document(gateway):
    """Valid and invalid generated requests to every operation: no 5xx, every response
    as documented, invalid input refused with a 4xx."""
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import negative_data_rejection

    proc, url = gateway
    schema = _schema(url)
    statuses: Counter[str] = Counter()
    tried: Counter[str] = Counter()
    checks = _checks()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        modes = [GenerationMode.POSITIVE]
        if operation.definition.raw.get("parameters") or operation.body:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            extra = [negative_data_rejection] if mode is GenerationMode.NEGATIVE else []
            _fuzz(operation.as_strategy(generation_mode=mode), url, checks + extra,
                  statuses, tried, f"{label} {mode.value}",
                  negative=mode is GenerationMode.NEGATIVE)
    total = sum(tried.values())
    print(f"\nschemathesis: {total} requests over {len(tried)} operation/mode pairs;"
          f" statuses {dict(sorted(statuses.items()))}")
    assert total >= 10 * EXAMPLES // 2
    assert not any(s.startswith("5") and s != "503" for s in statuses)
    assert proc.returncode is None
    assert [e for e in log_events(proc) if e.get("level") in ("error", "critical", "raw")] == []


def test_without_credentials_every_operation_but_two_answers_401(gateway):
    """Valid and invalid generated requests without credentials: every response as
    documented, and 401 from every operation but /health and /openapi.json (a request
    the protocol layer refuses first may get its 400/408/414/431)."""
    from schemathesis import GenerationMode

    proc, url = gateway
    schema = _schema(url)
    checks = _checks()
    tried: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        statuses: Counter[str] = Counter()
        modes = [GenerationMode.POSITIVE]
        if operation.definition.raw.get("parameters") or operation.body:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            _fuzz(operation.as_strategy(generation_mode=mode), url, checks, statuses, tried,
                  f"{label} {mode.value}", headers=None, examples=ANONYMOUS_EXAMPLES)
        if operation.path in PUBLIC:
            assert "401" not in statuses, label
        else:
            assert set(statuses) <= {"401", "400", "408", "414", "431"}, (label, statuses)
            assert statuses["401"] >= 1, label
    total = sum(tried.values())
    print(f"\nschemathesis without credentials: {total} requests over {len(tried)}"
          " operation/mode pairs")
    assert total >= 10 * ANONYMOUS_EXAMPLES
    assert proc.returncode is None


def test_stateful_sequences_conform(gateway):
    """Linked calls (upload, then download, metadata and delete of what it returned):
    no 5xx, every response as documented, a deleted file is gone."""
    from schemathesis.specs.openapi.checks import ensure_resource_availability, use_after_free

    proc, url = gateway
    schema = _schema(url)
    checks = _checks() + [use_after_free, ensure_resource_availability]
    calls: Counter[str] = Counter()
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def call(self, case: Any, **kwargs: Any) -> Any:
            calls[f"{case.method} {case.path} "] += 1
            return case.call(base_url=url, timeout=20, headers=ADMIN, **kwargs)

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            calls[str(response.status_code)] += 1
            case.validate_response(response, checks=checks, recorder=getattr(
                self, "recorder", None))

    try:
        Machine.run(settings=_settings(STATEFUL, stateful_step_count=6))
    except BaseException:
        print("\n".join(str(e.get("message"))[:300] for e in log_events(proc)[-60:]))
        raise
    requests = sum(v for k, v in calls.items() if k.endswith(" "))
    print(f"\nschemathesis stateful: {requests} requests in up to {STATEFUL} scenarios;"
          f" {dict(calls)}")
    assert calls["POST /files "] >= 1 and requests > STATEFUL
    assert not any(k.startswith("5") and k != "503" for k in calls)
    assert proc.returncode is None
