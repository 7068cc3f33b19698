from __future__ import annotations

import json

from probe import diagnostics

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrYW5hcmkifQ.c2lnbmF0dXJlLWJ5dGVz"


def test_an_upstream_echoing_a_credential_never_reaches_the_evidence() -> None:
    body = json.dumps({"error": "invalid_grant", "error_description": f"assertion {JWT} refused"}).encode()
    detail = diagnostics.from_body(body)
    assert detail == "error=invalid_grant error_description=assertion [redacted] refused"
    assert diagnostics.clean("header was Bearer abc.def.ghi") == "header was Bearer [redacted]"
    assert "A" * 41 not in diagnostics.clean("key " + "A" * 60)


def test_text_is_one_bounded_line() -> None:
    text = diagnostics.clean("line one\nline\ttwo " + "word " * 200)
    assert "\n" not in text
    assert "\t" not in text
    assert len(text) == diagnostics.MAX_DETAIL
    assert text.endswith("…")


def test_bodies_that_say_nothing_give_none() -> None:
    assert diagnostics.from_body(b"") is None
    assert diagnostics.from_body(b"[1, 2]") is None
    assert diagnostics.from_body(b"{}") is None
    assert diagnostics.from_body(b"x" * (diagnostics.MAX_BODY + 1)) is None


def test_a_body_nested_too_deep_to_parse_is_read_as_text() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    detail = diagnostics.from_body(nested[: diagnostics.MAX_BODY])
    assert detail is not None
    assert detail.startswith("[[[")


def test_plain_text_and_validation_problems() -> None:
    assert diagnostics.from_body(b"Service Unavailable") == "Service Unavailable"
    problem = {
        "title": "One or more validation errors occurred.",
        "status": 400,
        "code": "STD-00000",
        "errors": {"Correspondence.Content.MessageBody": ["The field MessageBody must be at most 30000."]},
    }
    assert diagnostics.from_body(json.dumps(problem).encode()) == (
        "code=STD-00000 title=One or more validation errors occurred. "
        "Correspondence.Content.MessageBody: The field MessageBody must be at most 30000."
    )


def test_join_drops_repeats_and_nothing() -> None:
    assert diagnostics.join([None, "a", "a", "", "b"]) == "a; b"
    assert diagnostics.join([None, ""]) is None


def test_the_machine_readable_code_of_an_error_answer() -> None:
    altinn = {"title": "Conflict", "code": "CORR-01034", "errorCode": 1034}
    assert diagnostics.error_code(json.dumps(altinn).encode()) == "1034"
    assert diagnostics.error_code(b'{"code": "STD-00000", "errors": {}}') == "STD-00000"
    assert diagnostics.error_code(b'{"error": "invalid_grant"}') == "invalid_grant"
    assert diagnostics.error_code(b"Bad Gateway") is None
    assert diagnostics.error_code(b'["errorCode"]') is None
    assert diagnostics.error_code(b"") is None
