"""The `opened` leg: the receiving side's first read records it, whichever channel reads (the
REKO's web page, the gateway API, the SDK API); the sender's reads and later reads do not.

Before, only the REKO's web page wrote `opened`: a VC's case system reading through the APIs
left the inquiry `received`, so status and statistics depended on the channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.auth.models import Role
from tests.conftest import AppMaker
from tests.support.intake import bearer
from tests.support.pdfs import TestPki
from tests.support.reko import ANNA, leg_kinds, parties, submit
from tests.support.sdk import MESSAGES
from tests.support.web import Browser, logged_in_browser


@dataclass
class World:
    app: Flask
    http: FlaskClient
    sender: str
    vc: str
    inquiry_id: str
    browser: Browser | None = None

    def get(self, path: str, token: str) -> Any:
        return self.http.get(path, headers=bearer(token))

    def status(self) -> str:
        return str(self.get(f"/api/v1/inquiries/{self.inquiry_id}", self.sender)
                   .get_json()["status"])


@pytest.fixture
def world(make_app: AppMaker, installed_pki: TestPki) -> World:
    app = make_app()
    with app.app_context():
        tokens = parties()
        http = app.test_client()
        inquiry_id = submit(http, tokens.sender)
    return World(app, http, tokens.sender, tokens.reko, inquiry_id)


def _read_by_gateway_api(world: World) -> None:
    assert world.get(f"/api/v1/inquiries/{world.inquiry_id}", world.vc).status_code == 200


def _read_by_sdk_api(world: World) -> None:
    assert world.get(f"{MESSAGES}/{world.inquiry_id}", world.vc).status_code == 200


def _read_on_the_web(world: World) -> None:
    if world.browser is None:
        world.browser = logged_in_browser(world.app, "anna", Role.COORDINATOR, hsa_id=ANNA.hsa_id)
    assert world.browser.get(f"/inkorg/{world.inquiry_id}").status_code == 200


READERS = {"gateway-api": _read_by_gateway_api, "sdk-api": _read_by_sdk_api,
           "web": _read_on_the_web}


@pytest.mark.parametrize("read", READERS.values(), ids=READERS.keys())
def test_the_receiving_sides_first_read_is_opened_on_every_channel(world: World, read: Any) -> None:
    with world.app.app_context():
        assert world.status() == "received"
        read(world)
        read(world)
        assert world.status() == "opened"
        assert leg_kinds(world.inquiry_id).count("opened") == 1


def test_the_senders_reads_do_not_open_it(world: World) -> None:
    with world.app.app_context():
        assert world.get(f"{MESSAGES}/{world.inquiry_id}", world.sender).status_code == 200
        assert world.get(f"/api/v1/inquiries/{world.inquiry_id}", world.sender).status_code == 200
        assert "opened" not in leg_kinds(world.inquiry_id)
        assert world.status() == "received"


def test_a_read_on_another_channel_after_the_first_adds_nothing(world: World) -> None:
    with world.app.app_context():
        _read_by_sdk_api(world)
        _read_by_gateway_api(world)
        _read_on_the_web(world)
        assert leg_kinds(world.inquiry_id).count("opened") == 1
