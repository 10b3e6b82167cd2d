"""Large JSON bodies read in pieces: the document is the one json.loads gives, but for strings
over the threshold, which come back as files decoding their base64 in pieces; a bound on large
bodies per process answers 503 with Retry-After past it."""

from __future__ import annotations

import base64
import io
import json
import os
from typing import Any

import pytest
from flask import Flask

from gateway.bodies import LARGE_BODY, LargeText, NotBase64, _Splitter, read_json

PAYLOAD = os.urandom(3000)
ENCODED = base64.b64encode(PAYLOAD).decode("ascii")


def split_read(raw: bytes, chunk: int, threshold: int = 100) -> Any:
    splitter = _Splitter(threshold)
    for start in range(0, len(raw), chunk):
        splitter.feed(raw[start:start + chunk])
    return splitter.result()


def plain(value: Any) -> Any:
    if isinstance(value, LargeText):
        try:
            return ("large", value.decode_base64())
        finally:
            value.close()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


DOCUMENT = {
    "data": {"attributes": {
        "label": 'Svar "med" citat \\ och \u00e5\u00e4\u00f6 \n rad',
        "content": ENCODED,
        "lines": "\n".join(ENCODED[i:i + 76] for i in range(0, len(ENCODED), 76)),
        "list": [1, 2.5, True, None, "kort"],
    }},
}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 100_000])
def test_the_document_is_json_loads_but_for_large_strings(chunk: int) -> None:
    # Some encoders write "/" as the escape "\/" (json.dumps does not): spliced in by hand.
    slashes = ENCODED.replace("/", "\\/").encode()
    raw = json.dumps(DOCUMENT).encode().replace(b'"list"', b'"slashes": "' + slashes + b'", "list"')
    assert b"\\/" in raw
    found = plain(split_read(raw, chunk))
    attrs = found["data"]["attributes"]
    assert attrs["label"] == DOCUMENT["data"]["attributes"]["label"]
    assert attrs["list"] == [1, 2.5, True, None, "kort"]
    for key in ("content", "slashes", "lines"):
        assert attrs[key] == ("large", PAYLOAD), key


@pytest.mark.parametrize("text", [ENCODED[:-1], "QQ==" + ENCODED, "*" * 200,
                                  ENCODED[:100] + "=" + ENCODED[100:], "\\u0041" * 50])
def test_a_large_string_that_is_not_base64_says_so(text: str) -> None:
    value = split_read(json.dumps({"c": text}).encode(), 50)["c"]
    assert isinstance(value, LargeText)
    try:
        with pytest.raises(NotBase64):
            value.decode_base64()
    finally:
        value.close()


@pytest.mark.parametrize("raw", [b"", b"{", b'{"a": "unterminated', b"[1, 2,]", b"nej"])
def test_what_is_not_json_reads_as_none(raw: bytes) -> None:
    assert read_json(io.BytesIO(raw)) is None


def test_past_the_bound_a_large_body_gets_503_with_retry_after(app: Flask) -> None:
    slots = app.extensions["gateway.large_bodies"]
    taken = [slots.take(LARGE_BODY) for _ in range(app.config["LARGE_BODIES_PER_PROCESS"])]
    assert taken == [True] * len(taken)
    try:
        response = app.test_client().post(
            "/v1/sdk/messages", data=b"x" * LARGE_BODY, content_type="application/json")
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert response.get_json()["eventIssues"][0]["typeCode"] == "BUSY_WITH_LARGE_BODIES"
        small = app.test_client().get("/healthz")
        assert small.status_code == 200
    finally:
        for _ in taken:
            slots.semaphore.release()
