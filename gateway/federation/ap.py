"""The access point (DESIGN 7.4): `POST /ap/v1/envelopes` behind HTTPS with client
certificates required in the handshake, and `gateway ap` that serves it with gunicorn.

The route answers only in the `gateway ap` process (config AP_LISTENER): the web process
serves no envelopes. WSGI does not see the client certificate, so the sender is identified
by the envelope's signature when the job checks it.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import click
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from gateway import clitools, codes
from gateway.db import get_session, utcnow
from gateway.errors import GatewayError
from gateway.federation.incoming import NotAnEnvelope, take_envelope
from signing.devpki import PkiLayout

PATH = "/ap/v1/envelopes"

bp = Blueprint("ap", __name__)


@bp.post(PATH)
def receive() -> Response:
    """Store the envelope and acknowledge it (202); 4xx only for what is not an XHE at all."""
    if not current_app.config.get("AP_LISTENER"):
        abort(404)
    limit = current_app.config["AP_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(request.content_length, limit)
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(len(data), limit)
    session = get_session()
    try:
        row = take_envelope(session, data, utcnow())
    except NotAnEnvelope as exc:
        session.rollback()
        if exc.status == 413:
            raise _too_large(len(data), limit) from None
        raise GatewayError.at(codes.ENVELOPE_NOT_XHE, str(exc), status=400) from None
    session.commit()
    response = jsonify({"id": row.xhe_id, "status": row.status})
    response.status_code = 202
    return response


def _too_large(size: int, limit: int) -> GatewayError:
    return GatewayError.at(codes.ENVELOPE_TOO_LARGE, f"{size} byte; högst {limit}.", status=413)


def ssl_context(app: Flask) -> ssl.SSLContext:
    """The listener's TLS: the AP certificate, and a client certificate chaining to a
    federation CA required in the handshake."""
    layout = PkiLayout.for_instance(app.instance_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(layout.ap_tls_cert), str(layout.ap_tls_key))
    context.verify_mode = ssl.CERT_REQUIRED
    for name in app.config["FEDERATION_CA"]:
        context.load_verify_locations(cafile=name)
    return context


def ca_bundle(app: Flask) -> str:
    """Return one PEM file holding every federation CA (gunicorn takes one ca_certs file)."""
    files = list(app.config["FEDERATION_CA"])
    if len(files) == 1:
        return str(files[0])
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the process
        "wb", prefix="federation-ca-", suffix=".pem", delete=False
    )
    with handle:
        for name in files:
            handle.write(Path(name).read_bytes().rstrip() + b"\n")
    return handle.name


def serve_ap(app: Flask, host: str, port: int, workers: int = 1) -> None:
    """Serve the access point with gunicorn over HTTPS with required client certificates."""
    from gateway.serve import GatewayServer

    class AccessPointServer(GatewayServer):
        def load(self) -> Flask:
            from gateway import create_app

            return ap_app(create_app({"AP_LISTENER": True}))

    layout = PkiLayout.for_instance(app.instance_path)
    for needed in (layout.ap_tls_cert, layout.ap_tls_key):
        if not needed.exists():
            clitools.fail(f"{needed} is missing (run 'gateway pki init')")
    AccessPointServer({
        "bind": f"{host}:{port}",
        "workers": workers,
        "certfile": str(layout.ap_tls_cert),
        "keyfile": str(layout.ap_tls_key),
        "ca_certs": ca_bundle(app),
        "cert_reqs": ssl.CERT_REQUIRED,
    }).run()


def ap_app(app: Flask) -> Flask:
    """The app as the access point serves it: the route on, bodies up to AP_MAX_BYTES."""
    app.config["AP_LISTENER"] = True
    app.config["MAX_CONTENT_LENGTH"] = app.config["AP_MAX_BYTES"] + 1
    return app


@click.command("ap", help="Run the access point listener (HTTPS, client certificates required).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8443, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16))
@clitools.with_app
def ap_command(host: str, port: int, workers: int) -> None:
    serve_ap(ap_app(clitools.app()), host, port, workers)
