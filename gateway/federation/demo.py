"""The two-gateway demo (`gateway demo`; `--single` for one gateway): the municipality's
gateway (Malmö stad) in the instance folder and the region's (Region Skåne) in its `region`
subfolder, one development CA, each listing the other's organisation with its access point,
so an inquiry to a VC travels as an SDK envelope and the answer comes back."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from flask import Flask

from gateway import create_app
from gateway.db import database
from gateway.directory.models import Organisation
from signing.devpki import PkiLayout

MUNICIPALITY = "0203:malmo.se"
REGION = "0203:skane.se"
REGION_FOLDER = "region"


def region_env(env: dict[str, str], host: str, port: int) -> dict[str, str]:
    """The region gateway's environment: its own instance folder and SQLite database."""
    instance = Path(env["GATEWAY_INSTANCE_PATH"]) / REGION_FOLDER
    region = {k: v for k, v in env.items() if k != "GATEWAY_DATABASE_URL"}
    region.update(
        GATEWAY_INSTANCE_PATH=str(instance),
        GATEWAY_BASE_URL=f"http://{host}:{port + 1}",
        GATEWAY_RECEIPT_ORGANISATION=REGION,
    )
    return region


def share_ca(municipality: Flask, region_instance: Path) -> None:
    """Give the region's PKI folder the municipality's development CA (made first)."""
    ours = PkiLayout.for_instance(municipality.instance_path)
    theirs = PkiLayout.for_instance(region_instance)
    theirs.root.mkdir(parents=True, exist_ok=True)
    for source, target in ((ours.ca_cert, theirs.ca_cert), (ours.ca_key, theirs.ca_key)):
        if not target.exists():
            shutil.copy(source, target)
            os.chmod(target, 0o600)


def link(app: Flask, peer_org: str, peer_instance: str, endpoint: str) -> None:
    """List peer_org in app's directory as served at endpoint, with its certificates."""
    layout = PkiLayout.for_instance(peer_instance)
    encryption = layout.org_enc_cert(peer_org)
    with database(app).transaction() as session:
        org = session.get(Organisation, peer_org)
        assert org is not None
        org.endpoint = endpoint
        org.signing_certificate = layout.org_cert(peer_org).read_text()
        org.encryption_certificate = (
            encryption if encryption.exists() else layout.org_cert(peer_org)
        ).read_text()


def region_app(env: dict[str, str]) -> Flask:
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def ap_endpoint(host: str, port: int) -> str:
    return f"https://{host}:{port}/ap/v1/envelopes"
