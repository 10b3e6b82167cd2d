"""HTTP benchmarks through `gateway serve` as shipped (gunicorn, its own process):

- intake_http: hälsoförfrågningar accepted per second by POST /api/v1/inquiries from 16
  concurrent keep-alive clients for 30 s; the load generator (a process of its own) reports
  its CPU time beside it, since it shares the machine;
- intake_latency: p99 ms at an offered 100 inquiries/s for 30 s, open loop (each request's
  time counted from when it was due, so a slow server cannot slow the offer);
- large_message: the web process's peak RSS over its baseline while it takes a 30 MB SDK
  message (an answer carrying a 22 MB PDF: 30 MB of JSON), in multiples of the message size,
  and its RSS a few seconds afterwards (read from /proc; served with one worker so the
  request's process is known).
- large_answer_pdf: the same for the 22 MB signed PDF alone, POSTed as application/pdf to
  /api/v1/inquiries/{id}/answer, in multiples of the PDF's size.

On SQLite and, where a server is set, on PostgreSQL; temporary instance and database each.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import io
import json
import multiprocessing
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._forms import SENDER as FORM_SENDER
from bench._forms import halsoforfragan
from bench._harness import (
    BENCH_PASSPHRASE,
    BENCH_REKO,
    Context,
    Row,
    at_least,
    at_most,
    fresh_database,
    gateway_app,
    gateway_env,
    peak_rss,
)
from gateway.auth.clients import create_client
from gateway.db import database

CLIENTS = 16
MIB = 1024 * 1024
STARTUP_SECONDS = 120
PERSONS = 400
# The open-loop test stops sending this long after its last request was due; what is left
# counts as late (an infinite latency), so a slow server cannot stretch the run.
GRACE_SECONDS = 10
ID_RE = re.compile(rb"<(?:\w+:)?id>([0-9a-f-]{36})</(?:\w+:)?id>")
KRYDDGARDEN_ORG = "0203:skane.se"
KRYDDGARDEN_ADDRESS = "sdk:reko-kryddgarden:0203:skane.se"


@dataclass(frozen=True)
class Server:
    port: int
    master: subprocess.Popen[bytes]
    ebb: tuple[str, str]  # EBB Öster's API client (id, secret)
    vc: tuple[str, str]  # Vårdcentralen Kryddgården's
    pki: Path  # the instance's development PKI (its REKO signs answers)

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.master.pid}/task/{self.master.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _prepare(folder: Path, url: str) -> tuple[dict[str, str], tuple[str, str], tuple[str, str]]:
    """A migrated database with the demo directory, a PKI and two API clients."""
    app = gateway_app(folder, url)
    with app.app_context(), database(app).transaction() as session:
        ebb, ebb_secret = create_client(
            session, organisation=FORM_SENDER.organisation,
            functional_addresses=[FORM_SENDER.funktionsadress], actor="cli:bench")
        vc, vc_secret = create_client(
            session, organisation=KRYDDGARDEN_ORG, functional_addresses=[KRYDDGARDEN_ADDRESS],
            actor="cli:bench")
        ids = (ebb.client_id, ebb_secret), (vc.client_id, vc_secret)
    database(app).engine.dispose()
    env = {**gateway_env(app), "GATEWAY_COOKIE_SECURE": "0"}
    return env, ids[0], ids[1]


@contextmanager
def serving(folder: Path, url: str, workers: int | None = None) -> Iterator[Server]:
    """`gateway serve` in a process of its own; yields once it answers."""
    env, ebb, vc = _prepare(folder, url)
    port = _free_port()
    command = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log,  # noqa: S603 - our command
                                   stderr=subprocess.STDOUT)
    try:
        _wait_until_up(port, process, log_path)
        yield Server(port, process, ebb, vc, folder / "instance" / "pki")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gateway serve did not start: {log_path.read_text(errors='replace')}")


def token(port: int, client: tuple[str, str]) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
    connection.request("POST", "/oauth/token", body="grant_type=client_credentials",
                       headers={"Authorization": f"Basic {basic}",
                                "Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"no token: {response.status} {body}")
    access: str = body["access_token"]
    return access


# --- the load (a process of its own) ------------------------------------------------------------


def _templates() -> list[tuple[bytes, bytes]]:
    """Forms of PERSONS people, each with its id: a request's body is one of them under a fresh
    id (cheap for the load generator, and no inquiry repeats another's id)."""
    found = []
    for n in range(PERSONS):
        data = halsoforfragan(500_000 + n)
        match = ID_RE.search(data)
        assert match is not None
        found.append((data, match.group(1)))
    return found


def _body(templates: list[tuple[bytes, bytes]], n: int) -> bytes:
    data, old = templates[n % len(templates)]
    return data.replace(old, str(uuid.uuid4()).encode())


def _post(connection: http.client.HTTPConnection, body: bytes, bearer: str) -> int:
    connection.request("POST", "/api/v1/inquiries", body=body,
                       headers={"Authorization": f"Bearer {bearer}",
                                "Content-Type": "application/xml"})
    response = connection.getresponse()
    response.read()
    return response.status


def _closed_loop(port: int, bearer: str, seconds: float, results: Any) -> None:
    """CLIENTS threads, each one keep-alive connection, sending back to back for `seconds`."""
    templates = _templates()
    statuses: Counter[int] = Counter()
    counter = iter(range(10**9))
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    stop_at = [0.0]

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start.wait()
        while time.perf_counter() < stop_at[0]:
            with lock:
                n = next(counter)
            try:
                status = _post(connection, _body(templates, n), bearer)
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status = 0
            with lock:
                statuses[status] += 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    cpu_before = _cpu()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    results.put((elapsed, dict(statuses), _cpu() - cpu_before))


def _open_loop(port: int, bearer: str, rate: float, seconds: float, results: Any) -> None:
    """Requests due every 1/rate s whatever the answers; latency counted from when due."""
    templates = _templates()
    total = int(rate * seconds)
    due: list[float] = []
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    queue: list[int] = []
    ready = threading.Condition(lock)
    done = [False]

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with ready:
                while not queue and not done[0]:
                    ready.wait()
                if not queue:
                    break
                n = queue.pop(0)
            if time.perf_counter() > give_up:
                with lock:  # the server is this far behind: counted as late, not sent
                    latencies.append(float("inf"))
                    statuses[-1] += 1
                continue
            body = _body(templates, n)
            try:
                status = _post(connection, body, bearer)
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status = 0
            finished = time.perf_counter()
            with lock:
                latencies.append(finished - due[n])
                statuses[status] += 1
        connection.close()

    threads = [threading.Thread(target=sender) for _ in range(64)]
    for thread in threads:
        thread.start()
    cpu_before = _cpu()
    began = time.perf_counter()
    give_up = began + seconds + GRACE_SECONDS
    due.extend(began + n / rate for n in range(total))
    for n in range(total):
        pause = due[n] - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        with ready:
            queue.append(n)
            ready.notify()
    with ready:
        done[0] = True
        ready.notify_all()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    results.put((elapsed, dict(statuses), _cpu() - cpu_before, latencies))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _in_loader(target: Any, *args: Any) -> Any:
    """Run a load function in a process of its own (not this one's GIL); return its result."""
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    process = spawn.Process(target=target, args=(*args, results))
    process.start()
    found = results.get()
    process.join()
    return found


# --- the measurements ---------------------------------------------------------------------------


def intake_http(backend: str, server: Server, seconds: float) -> Row:
    bearer = token(server.port, server.ebb)
    elapsed, statuses, cpu = _in_loader(_closed_loop, server.port, bearer, seconds)
    accepted = statuses.get(201, 0)
    rate = accepted / elapsed
    row = Row("intake_http", backend, "inquiries/s", rate, detail={
        "clients": CLIENTS, "seconds": round(elapsed, 1), "statuses": statuses,
        "load_generator_cpu_s": round(cpu, 2),
        "load_generator_cpu_share": round(cpu / elapsed, 2),
    })
    print(f"intake_http    {backend:<10} {rate:7.1f}/s  statuses {statuses}  load generator "
          f"CPU {cpu:.1f} s of {elapsed:.1f} s", flush=True)
    return at_least(row, 250 if backend == "postgresql" else 100)


def intake_latency(backend: str, server: Server, rate: float, seconds: float) -> Row:
    bearer = token(server.port, server.ebb)
    elapsed, statuses, cpu, latencies = _in_loader(_open_loop, server.port, bearer, rate,
                                                   seconds)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    late = statuses.get(-1, 0)
    if late:  # the p99 is beyond what was waited for: report the wait, marked in the detail
        p99 = (seconds + GRACE_SECONDS) * 1000
    row = Row("intake_latency", backend, "p99 ms", p99, detail={
        "offered_per_s": rate, "seconds": round(elapsed, 1), "statuses": statuses,
        "median_ms": _finite_ms(statistics.median(ordered)),
        "not_sent_late": late, "p99_at_least": bool(late),
        "load_generator_cpu_s": round(cpu, 2),
    })
    print(f"intake_latency {backend:<10} p99 {p99:7.1f} ms, median "
          f"{_finite_ms(statistics.median(ordered))} ms  statuses {statuses}", flush=True)
    if backend == "postgresql":
        return at_most(row, 100, of="value")
    row.goal = "— (goal on PostgreSQL)"
    return row


# --- large message ------------------------------------------------------------------------------


def _finite_ms(seconds: float) -> float | None:
    return round(seconds * 1000, 1) if seconds != float("inf") else None


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _big_signed_answer(inquiry_id: str, size: int, pki: Path) -> bytes:
    """An answer to the inquiry as a REKO sends it (rendered, signed by Kryddgården's REKO),
    made about `size` bytes by an incompressible stream object added before signing (as a
    scanned attachment would be)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from forms.answer import Besvarare, StructuredAnswer, Svar
    from forms.halsoforfragan import Fraga, FragaKod
    from forms.render import SIGNATURE_FIELD_REKO, render_answer_pdf
    from signing.devpki import PkiLayout
    from signing.pdfsign import sign_answer

    answer = StructuredAnswer(
        forfragan_id=inquiry_id, besvarad=dt.datetime.now(dt.UTC).replace(microsecond=0),
        besvarad_av=Besvarare(BENCH_REKO.name, BENCH_REKO.hsa_id),
        svar=(Svar(FragaKod.AKTIVITETSFORMAGA, "Klarar lättare arbete fyra timmar per dag."),),
        sip_rekommenderas=False, i_samrad_med=None,
    )
    rendered = render_answer_pdf(answer, inquiry_id, [Fraga(FragaKod.AKTIVITETSFORMAGA)])
    writer = IncrementalPdfFileWriter(io.BytesIO(rendered), strict=False)
    writer.add_object(generic.StreamObject(stream_data=os.urandom(size)))
    padded = io.BytesIO()
    writer.write(padded)
    p12 = PkiLayout(pki).reko_pkcs12(BENCH_REKO.hsa_id).read_bytes()
    return sign_answer(padded.getvalue(), p12, BENCH_PASSPHRASE, SIGNATURE_FIELD_REKO)


def _message(inquiry_id: str, pdf: bytes) -> bytes:
    attention = "urn:riv:infrastructure:messaging:functionalAddress"
    attrs = {
        "refToMessageId": inquiry_id, "confidentiality": True,
        "label": "Svar på hälsoförfrågan", "sender": KRYDDGARDEN_ORG,
        "recipient": FORM_SENDER.organisation,
        "senderAttention": {"subOrganization": {"root": attention,
                                                "extension": KRYDDGARDEN_ADDRESS}},
        "recipientAttention": {"subOrganization": {"root": attention,
                                                   "extension": FORM_SENDER.funktionsadress}},
        "digitalDocument": [{"documentId": "svar", "documentName": "Svar på hälsoförfrågan",
                             "contentFiles": [{"fileName": "svar.pdf",
                                               "contentType": "application/pdf",
                                               "content": base64.b64encode(pdf).decode()}]}],
    }
    return json.dumps({"data": {"type": "messages", "attributes": attrs}}).encode()


def large_message(backend: str, server: Server, megabytes: float, pdf_only: bool = False) -> Row:
    """The SDK message with the PDF in base64 (large_message), or with `pdf_only` the same PDF
    alone to POST /api/v1/inquiries/{id}/answer (large_answer_pdf), measured alike."""
    ebb = token(server.port, server.ebb)
    vc = token(server.port, server.vc)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    form = halsoforfragan(700_000)
    found = ID_RE.search(form)
    assert found is not None
    inquiry = found.group(1).decode()
    assert _post(connection, form, ebb) == 201
    pdf = _big_signed_answer(inquiry, int(megabytes * MIB * 3 / 4), server.pki)
    if pdf_only:
        name, what, path, content_type = (
            "large_answer_pdf", "PDF", f"/api/v1/inquiries/{inquiry}/answer", "application/pdf")
        body = pdf
    else:
        name, what, path, content_type = (
            "large_message", "message", "/v1/sdk/messages", "application/vnd.api+json")
        body = _message(inquiry, pdf)
    del pdf
    # Building the PDF can outlast gunicorn's keep-alive (5 s) on a busy machine.
    connection.close()
    (worker,) = server.workers()
    for _ in range(3):  # warm the worker up with small requests
        _post(connection, _body([(form, found.group(1))], 0), ebb)
    time.sleep(1)
    baseline = _rss_kb(worker)
    with peak_rss(worker) as peak_bytes:
        connection.request("POST", path, body=body,
                           headers={"Authorization": f"Bearer {vc}",
                                    "Content-Type": content_type})
        response = connection.getresponse()
        reply = response.read()
        time.sleep(3)
    peak = [peak_bytes[0] // 1024]
    after = _rss_kb(worker)
    connection.close()
    size_kb = len(body) / 1024
    growth = (peak[0] - baseline) / size_kb
    row = Row(name, backend, f"peak RSS over baseline / {what} size", growth,
              peak_rss_mb=round(peak[0] / 1024, 1), detail={
                  f"{what.lower()}_mb": round(len(body) / MIB, 1), "status": response.status,
                  "reply": reply[:300].decode(errors="replace"),
                  "baseline_mb": round(baseline / 1024, 1),
                  "peak_mb": round(peak[0] / 1024, 1), "after_mb": round(after / 1024, 1),
                  "after_over_baseline": round(after / baseline, 2),
              })
    row.goal = "value ≤ 2 and back within 20 % of baseline"
    row.met = growth <= 2 and after <= baseline * 1.2
    print(f"{name}  {backend:<10} {len(body) / MIB:.1f} MB -> {response.status}: baseline "
          f"{baseline / 1024:.0f} MB, peak {peak[0] / 1024:.0f} MB ({growth:.2f}x the {what}), "
          f"after {after / 1024:.0f} MB", flush=True)
    return row


def measure(context: Context) -> list[Row]:
    # 29.9 MiB: the largest message SDK takes (30 MiB) less room for the JSON around the file;
    # a message over it is refused before its file is read and would measure nothing.
    seconds, rate, megabytes = (3.0, 20.0, 2.0) if context.quick else (30.0, 100.0, 29.9)
    rows = []
    for backend, server_url in context.backends():
        with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
            folder = Path(tmp)
            with fresh_database(server_url, folder) as url, serving(folder, url) as server:
                rows.append(intake_http(backend, server, seconds))
                rows.append(intake_latency(backend, server, rate, seconds))
    rows += large_messages(context, megabytes)
    return rows


def large_messages(context: Context, megabytes: float) -> list[Row]:
    """large_message and large_answer_pdf on each database, each served by one worker of its
    own, so that the request's process is known."""
    rows = []
    for backend, server_url in context.backends():
        for pdf_only in (False, True):
            with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
                folder = Path(tmp)
                with fresh_database(server_url, folder) as url, \
                        serving(folder, url, workers=1) as server:
                    rows.append(large_message(backend, server, megabytes, pdf_only))
    return rows


if __name__ == "__main__":
    # `python -m bench.httpload large_message [--quick]`: that row alone, on each database.
    from bench._harness import context_from_env

    if sys.argv[1:2] != ["large_message"]:
        raise SystemExit("usage: python -m bench.httpload large_message [--quick]")
    quick = "--quick" in sys.argv
    for found in large_messages(context_from_env(quick), 2.0 if quick else 29.9):
        print(found.to_json())
