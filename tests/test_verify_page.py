"""The auditor's verification page (GET /verify) in a real headless chromium, against the real API.

A proof zip made by the API verifies VALID with every check ok; the same zip with one byte of
its payload (or of its seal) flipped shows INVALID and names the failing check; a document
looked up without a key shows the API's 401 problem; with an auditor key typed into the page,
a document and an evidence id are verified.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from api_support import ApiServer
from browser_support import launch
from vault.batch.sealer import seal_pending

PAYLOAD = b"Intervention report #42, signed by the customer on site.\n" * 40

#: screenshots a person looks at (also kept in each test's tmp_path)
SHOT_VALID = Path("/tmp/verify-page-valid.png")
SHOT_INVALID = Path("/tmp/verify-page-invalid.png")

#: the banner's data-status while no answer has arrived yet
WAITING = ("idle", "checking")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with launch() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC")
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert not errors, errors


@pytest.fixture
def proof_zip(api_server: ApiServer) -> tuple[str, bytes]:
    """A sealed signed document and its proof zip, as GET /v1/evidence/{id}/proof gives it."""
    tech = api_server.key("technician")
    with api_server.client(tech) as c:
        r = c.post(
            "/v1/evidence",
            data={
                "session": "S-42",
                "kind": "signed_document",
                "subject": "dave",
                "metadata": json.dumps({"ip": "192.0.2.55"}),
            },
            files={"file": ("report.txt", PAYLOAD)},
        )
        assert r.status_code == 201, r.text
        item_id = str(r.json()["id"])
    seal_pending(api_server.ctx)
    with api_server.client(tech) as c:
        r = c.get(f"/v1/evidence/{item_id}/proof")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/zip")
    return item_id, r.content


def _flip_in_zip(data: bytes, member: str, at: int) -> bytes:
    """The same zip with one bit flipped at byte ``at`` (negative: from the end) of ``member``."""
    out = io.BytesIO()
    hit = False
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == member or info.filename.endswith("/" + member):
                buf = bytearray(content)
                buf[at] ^= 0x01
                content, hit = bytes(buf), True
            dst.writestr(info, content)
    assert hit, f"{member} is not in the proof zip"
    return out.getvalue()


def _open(page: Page, api: ApiServer) -> None:
    page.goto(api.url + "/verify")
    expect(page.locator("#banner")).to_have_attribute("data-status", "idle")
    expect(page).to_have_title("Evidence verification · Evidence vault")


def _answer(page: Page) -> str:
    """Wait for the page to show an answer; its status (valid, invalid, ..., error)."""
    page.wait_for_function(
        "s => !s.includes(document.getElementById('banner').dataset.status)", arg=list(WAITING), timeout=60_000
    )
    return str(page.get_attribute("#banner", "data-status"))


def _upload(page: Page, name: str, data: bytes, mime: str = "application/zip") -> str:
    with page.expect_response(lambda r: r.url.endswith("/v1/verify")) as answer:
        page.set_input_files("#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}])
    assert answer.value.request.method == "POST"
    return _answer(page)


def _rows(page: Page) -> dict[str, str]:
    """check name -> data-ok of the checks table."""
    rows = page.locator("#checks tr[data-check]")
    return {
        str(rows.nth(i).get_attribute("data-check")): str(rows.nth(i).get_attribute("data-ok"))
        for i in range(rows.count())
    }


def _shot(page: Page, tmp_path: Path, name: str, also: Path | None = None) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if also is not None:
        shutil.copyfile(path, also)


def test_intact_proof_zip_is_valid(
    page: Page, api_server: ApiServer, proof_zip: tuple[str, bytes], tmp_path: Path
) -> None:
    item_id, data = proof_zip
    _open(page, api_server)
    with page.expect_request(lambda r: r.url.endswith("/v1/verify")) as sent:
        status = _upload(page, f"{item_id}-proof.zip", data)
    assert status == "valid"
    request = sent.value
    assert "authorization" not in request.headers  # a bundle needs no key, and none was typed
    assert request.headers["content-type"].startswith("multipart/form-data")  # sent as the "bundle" part

    expect(page.locator("#banner-word")).to_have_text("VALID")
    expect(page.locator("#banner-text")).to_contain_text("Every check passed")
    rows = _rows(page)
    assert rows and all(ok == "true" for ok in rows.values()), rows
    for name in ("bundle_files", "payload_digest", "evidence_leaf", "path_to_root", "seal", "timestamp", "vault_batch"):
        assert name in rows, rows
    # checks are put in words, the technical name stays visible beside them
    expect(page.locator('#checks tr[data-check="payload_digest"] th')).to_contain_text(
        "Content matches its recorded digest"
    )
    expect(page.locator('#checks tr[data-check="payload_digest"] .pill')).to_have_text("✓ Passed")
    expect(page.locator("#summary")).to_contain_text(item_id)

    # the token's time, in UTC and as issued
    with api_server.client() as c:
        batch_time = api_server.ctx.now().strftime("%Y-%m-%d")
        certs = c.get("/v1/certificates").json()
    expect(page.locator("#timestamp")).to_contain_text(batch_time)
    expect(page.locator("#timestamp")).to_contain_text("UTC")

    # both certificates' subjects and fingerprints, the fingerprint as openssl prints it
    shown = page.inner_text("#certificates")
    for group in ("seal", "tsa"):
        assert certs[group], certs
        for cert in certs[group]:
            assert cert["subject"] in shown
            assert ":".join(cert["sha256"][i : i + 2] for i in range(0, 64, 2)).upper() in shown

    _shot(page, tmp_path, "valid", SHOT_VALID)


@pytest.mark.parametrize(
    ("member", "at", "failing", "said"),
    [
        ("payload", 10, "payload_digest", "the content does not match its recorded digest"),
        ("seal.p7s", -1, "seal", "the electronic seal of the batch is not valid"),
    ],
    ids=["payload", "seal"],
)
def test_tampered_proof_zip_is_invalid(
    page: Page,
    api_server: ApiServer,
    proof_zip: tuple[str, bytes],
    tmp_path: Path,
    member: str,
    at: int,
    failing: str,
    said: str,
) -> None:
    item_id, data = proof_zip
    _open(page, api_server)
    assert _upload(page, f"{item_id}-proof.zip", _flip_in_zip(data, member, at)) == "invalid"

    expect(page.locator("#banner-word")).to_have_text("INVALID")
    rows = _rows(page)
    assert rows[failing] == "false", rows
    assert [name for name, ok in rows.items() if ok == "false"] == [failing], rows
    row = page.locator(f'#checks tr[data-check="{failing}"]')
    expect(row.locator(".pill")).to_have_text("✗ Failed")
    expect(row.locator(".check-detail")).not_to_be_empty()
    # the banner says which check failed, in words
    expect(page.locator("#banner-text")).to_have_text(f"1 of {len(rows)} checks failed: {said}.")
    expect(page.locator("#timestamp")).to_contain_text("does not vouch for the content")
    if failing == "payload_digest":
        expect(row.locator(".check-detail")).to_contain_text("digest mismatch")
        _shot(page, tmp_path, "invalid", SHOT_INVALID)
    else:
        _shot(page, tmp_path, "invalid-seal")


def test_document_lookup_without_key_shows_the_401_problem(page: Page, api_server: ApiServer, tmp_path: Path) -> None:
    _open(page, api_server)
    with page.expect_request(lambda r: r.url.endswith("/v1/verify")) as sent:
        status = _upload(page, "report.txt", PAYLOAD, mime="text/plain")
    assert status == "error"
    assert sent.value.headers["content-type"].startswith("multipart/form-data")  # the "file" part
    assert "authorization" not in sent.value.headers
    expect(page.locator("#banner-word")).to_have_text("Authentication required")
    expect(page.locator("#banner")).to_contain_text("HTTP 401")
    expect(page.locator("#banner")).to_contain_text("API key")
    expect(page.locator("#details")).to_be_hidden()
    _shot(page, tmp_path, "unauthenticated")


def test_auditor_key_document_and_id_lookups(
    page: Page, api_server: ApiServer, proof_zip: tuple[str, bytes], tmp_path: Path
) -> None:
    item_id, _ = proof_zip
    key = api_server.key("auditor")
    _open(page, api_server)
    page.fill("#api-key", key)

    # the document itself: found by its digest, verified online
    with page.expect_request(lambda r: r.url.endswith("/v1/verify")) as sent:
        assert _upload(page, "report.txt", PAYLOAD, mime="text/plain") == "valid"
    assert sent.value.headers["authorization"] == f"Bearer {key}"
    rows = _rows(page)
    assert rows and all(ok == "true" for ok in rows.values()), rows
    assert {"index_record", "payload_digest", "stored_bytes", "seal", "timestamp", "chain"} <= rows.keys()
    expect(page.locator("#summary")).to_contain_text(item_id)
    _shot(page, tmp_path, "lookup")

    # the key survives a reload in this tab (sessionStorage), and nowhere else
    page.reload()
    expect(page.locator("#api-key")).to_have_value(key)
    assert page.evaluate("() => window.localStorage.length") == 0

    # by id, with the keyboard only: type the id, Enter submits
    page.focus("#evidence-id")
    page.keyboard.type(item_id)
    with page.expect_response(lambda r: r.url.endswith("/v1/verify")):
        page.keyboard.press("Enter")
    assert _answer(page) == "valid"
    expect(page.locator("#banner-word")).to_have_text("VALID")
    expect(page.locator('#checks tr[data-check="chain"]')).to_have_attribute("data-ok", "true")

    # a document the vault does not hold
    assert _upload(page, "other.txt", b"not deposited", mime="text/plain") == "not_found"
    expect(page.locator("#banner-word")).to_have_text("NOT FOUND")

    # forgetting the key empties the field and the tab's storage
    page.click("#forget-key")
    expect(page.locator("#api-key")).to_have_value("")
    assert page.evaluate("() => window.sessionStorage.length") == 0


def test_dropping_a_proof_zip_on_the_drop_zone(page: Page, api_server: ApiServer, proof_zip: tuple[str, bytes]) -> None:
    item_id, data = proof_zip
    _open(page, api_server)
    drop = page.locator("#drop")
    transfer = page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: "application/zip" }));
            return dt;
        }""",
        [f"{item_id}-proof.zip", base64.b64encode(data).decode()],
    )
    drop.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(drop).to_have_class("drop dragover")
    with page.expect_response(lambda r: r.url.endswith("/v1/verify")):
        drop.dispatch_event("drop", {"dataTransfer": transfer})
    assert _answer(page) == "valid"
    expect(drop).not_to_have_class("drop dragover")
    expect(page.locator("#file-name")).to_contain_text(f"{item_id}-proof.zip")


def test_page_and_its_files_are_served_by_the_vault(api_server: ApiServer) -> None:
    with api_server.client() as c:
        html = c.get("/verify")
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        for ref, kind in (("static/verify.js", "javascript"), ("static/verify.css", "text/css")):
            assert f'"{ref}"' in html.text
            r = c.get("/" + ref)
            assert r.status_code == 200 and kind in r.headers["content-type"], (ref, r.headers)
    # no third-party origin anywhere: the page works offline and under a strict CSP
    assert "http://" not in html.text and "https://" not in html.text
    assert "<script>" not in html.text and "style=" not in html.text
