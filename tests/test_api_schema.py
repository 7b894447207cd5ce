"""Schemathesis against the running API's own ``/openapi.json``: for every operation, generated
requests (valid and invalid ones) sent with a real key; every answer must be no 5xx, with a
documented status code, a documented content type and a body that fits the documented schema.

Run twice, with an operator key (platform-wide) and with a technician key of tenant ``acme``
(deposits, and read-back of its own item), so that authenticated code paths run, not only
the 401s. The server is a real uvicorn over the test's own vault with the built-in TSA on
``/tsa`` and the batcher running, as ``vault up`` has them.

Bounded for CI: derandomized generation (the same requests every run), few examples per
operation and mode, no shrinking, no example database; the file takes well under a minute.
Every operation is run even when one fails, and the failure lists each failing operation
with its curl command and the answer.

Schemathesis's lazy pytest loader (``schemathesis.pytest.from_fixture``) cannot be used here:
4.32 reads ``request.node._nodeid``, which pytest 9.2 no longer has. The operations are
driven instead through the documented Hypothesis integration (``operation.as_strategy``).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_support import ApiServer, free_port, serve
from vault.api.app import create_app
from vault.config import Settings
from vault.context import VaultContext
from vault.evidence.kinds import Purpose
from vault.keys.pki import DevPKI, load_cert, load_private_key
from vault.runtime.batcher import Batcher
from vault.tenants.registry import NAME_RE
from vault.timestamp.responder import TimeStampResponder

PURPOSES = tuple(p.value for p in Purpose)
# RFC 3161 requests are DER bytes: sent as they are generated, like application/octet-stream
schemathesis.serializer.alias("application/timestamp-query", "application/octet-stream")
# tus PATCH bodies (/v1/uploads) are raw bytes too
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: per operation and generation mode: enough to reach each handler's branches, small enough for CI
MAX_EXAMPLES = 5
#: operations whose every call is costly get fewer: the audit re-reads every sealed batch
FEWER = {"POST /v1/audit": 3}
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=False,
    verbosity=hypothesis.Verbosity.quiet,
)


@pytest.fixture
def full_api(ctx: VaultContext, settings: Settings, pki: DevPKI) -> Iterator[ApiServer]:
    """The API as ``vault up`` serves it: built-in TSA on /tsa, and a batcher (/readyz wants one)."""
    responder = TimeStampResponder(load_cert(pki.tsa.cert), load_private_key(pki.tsa.key))  # type: ignore[arg-type]
    batcher = Batcher(ctx, tick=0.25)
    batcher.start()
    port = free_port()
    server, thread = serve(create_app(settings, ctx=ctx, tsa_responder=responder), port)
    try:
        yield ApiServer(f"http://127.0.0.1:{port}", ctx, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        batcher.stop()


@dataclass
class Run:
    api: ApiServer
    key: str
    session: requests.Session = field(default_factory=requests.Session)
    failures: dict[str, str] = field(default_factory=dict)
    #: status codes seen per operation (answers that passed every check)
    seen: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    calls: int = 0

    def check(self, label: str, strategy: Any, examples: int = MAX_EXAMPLES) -> None:
        """Up to ``examples`` cases of ``strategy``; the first failure of ``label`` is kept."""
        headers = {"Authorization": f"Bearer {self.key}"}

        @hypothesis.given(case=strategy)
        @hypothesis.settings(SETTINGS, max_examples=examples)
        def run(case: schemathesis.Case[Any]) -> None:
            self.calls += 1
            r = case.call_and_validate(session=self.session, headers=headers, checks=CHECKS, timeout=60)
            self.seen[case.operation.label][r.status_code] += 1

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing to make invalid (no parameters, or free-form strings only)
        except FailureGroup as e:  # checks failed: keep them, go on with the other operations
            self.failures.setdefault(label, str(e))
        except Exception as e:  # e.g. the transport failed
            self.failures.setdefault(label, f"{type(e).__name__}: {e}")

    def report(self) -> str:
        return "\n\n".join(f"== {label}\n{text}" for label, text in sorted(self.failures.items()))

    def reached(self, label: str, status: int) -> bool:
        return self.seen[label][status] > 0


DEPOSIT_FIELDS = ("session", "kind", "purpose", "subject", "metadata")


def _json_object(text: object) -> bool:
    try:
        return isinstance(text, str) and isinstance(json.loads(text), dict)
    except ValueError:
        return False


def deposit_case(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """A generated deposit made acceptable where the schema is looser than the API (names
    have a pattern, ``metadata`` is a JSON object, the fields come before ``file``), so that
    deposits of every kind with arbitrary payloads reach the pipeline, not only the 422s."""
    body = case.body
    if isinstance(body, dict) and "file" in body:
        fixed = {k: body[k] for k in DEPOSIT_FIELDS if k in body}
        fixed["session"] = body["session"] if NAME_RE.match(str(body.get("session", ""))) else "S-schema"
        if not NAME_RE.match(str(fixed.get("subject", "erin"))):
            del fixed["subject"]
        if fixed.get("purpose") not in (None, *PURPOSES):
            del fixed["purpose"]
        if "metadata" in fixed and not _json_object(fixed["metadata"]):
            del fixed["metadata"]
        fixed["file"] = body["file"]
        case.body = fixed
        if case.headers:  # an announced digest of the payload as generated: rarely its digest
            case.headers.pop("X-Content-SHA256", None)
    return case


def fuzz(api: ApiServer, key: str, pinned: dict[str, str] | None = None) -> Run:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json", timeout=30)
    schema.config.update(base_url=api.url)
    run = Run(api, key)
    labels = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation whose declaration schemathesis cannot read
            run.failures[f"schema: {result.err().label}"] = str(result.err())
            continue
        op = result.ok()
        labels.append(op.label)
        n = FEWER.get(op.label, MAX_EXAMPLES)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run.check(f"{op.label} ({mode.value})", op.as_strategy(generation_mode=mode), n)
        params = {k: v for k, v in (pinned or {}).items() if "{" + k + "}" in op.path}
        if params:  # the same operation on a real resource: the 200 paths, not only the 404s
            run.check(f"{op.label} (positive, {params})", op.as_strategy(path_parameters=params), n)
        if op.label == "POST /v1/evidence":
            run.check(f"{op.label} (positive, acceptable names)", op.as_strategy().map(deposit_case), n)
    assert len(labels) >= 30, labels  # the whole API is covered, not a filtered part of it
    return run


def test_api_as_operator(full_api: ApiServer) -> None:
    run = fuzz(full_api, full_api.key("operator", tenant="acme"), {"tenant": "acme", "seq": "1"})
    if run.failures:
        pytest.fail(f"{len(run.failures)} failing operation(s) in {run.calls} calls\n\n{run.report()}", pytrace=False)
    # the key was accepted: the operator's own operations answered, not only 401/403
    for label in ("GET /v1/tenants", "GET /v1/tenants/{tenant}", "GET /v1/keys", "POST /v1/retention/apply"):
        assert run.reached(label, 200), (label, dict(run.seen[label]))
    assert run.reached("GET /readyz", 200), dict(run.seen["GET /readyz"])


def test_api_as_technician(full_api: ApiServer) -> None:
    key = full_api.key("technician", tenant="acme")
    with full_api.client(key) as c:
        r = c.post(
            "/v1/evidence",
            data={"session": "S-schema", "kind": "session_log", "subject": "erin"},
            files={"file": ("log.txt", b"schema test\n" * 50)},
        )
        assert r.status_code == 201, r.text
    run = fuzz(full_api, key, {"item_id": r.json()["id"], "tenant": "acme"})
    if run.failures:
        pytest.fail(f"{len(run.failures)} failing operation(s) in {run.calls} calls\n\n{run.report()}", pytrace=False)
    # deposits went through, and the technician read its own item back
    assert run.reached("POST /v1/evidence", 201), dict(run.seen["POST /v1/evidence"])
    for label in ("GET /v1/evidence/{item_id}", "GET /v1/evidence/{item_id}/content"):
        assert run.reached(label, 200), (label, dict(run.seen[label]))
