"""Answer validation benchmark (DESIGN 8): milliseconds per signed PDF for validate_answer
(rules P1–P9) against bare pyHanko validation of the same file (a fresh context and
validate_pdf_signature per signature, nothing else), as a ratio measured in one run.

    python -m bench answers
    python -m bench.answers --runs 100

Files: a rendered answer signed by the REKO; the same co-signed by a physician; and the
co-signed one with a timestamp on the REKO's signature. The PKI lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from bench._harness import Context, Row, at_most, in_turns
from forms.answer import Besvarare, Lakare, StructuredAnswer, Svar
from forms.halsoforfragan import Fraga, FragaKod
from forms.render import render_answer_pdf
from signing.devpki import Person, PkiLayout, init_pki
from signing.pades import apply_signer_rule, validate_answer
from signing.pdfsign import sign_answer, timestamper_from_files
from signing.trust import TrustStore, load_trust_store

DEFAULT_RUNS = 100
WARM_UP = 3
PASSPHRASE = "bench"
REKO = Person("SE2321000255-R001", "Karin Persson")
PHYSICIAN = Person("SE2321000255-L001", "Johan Ek")
REFERENCE = "3f2c8d4e-9a1b-4c5d-8e7f-0a1b2c3d4e5f"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answers", description=__doc__)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as folder:
        layout = PkiLayout(Path(folder) / "pki")
        init_pki(layout.root, passphrase=PASSPHRASE, rekos=[REKO], physicians=[PHYSICIAN])
        store = load_trust_store([layout.ca_cert], [layout.crl])
        files = _files(layout)
        print(f"{args.runs} runs per file after {WARM_UP} warm-up runs; median ms per PDF")
        print(f"{'file':<32}{'bytes':>8}{'validate_answer':>17}{'bare pyhanko':>14}{'ratio':>8}")
        for name, pdf in files.items():
            ours = _median_ms(lambda pdf=pdf: _ours(pdf, store), args.runs)
            bare = _median_ms(lambda pdf=pdf: _bare(pdf, store), args.runs)
            print(f"{name:<32}{len(pdf):>8}{ours:>17.1f}{bare:>14.1f}{ours / bare:>8.2f}")
    return 0


def measure(context: Context) -> list[Row]:
    """The worst file (timestamped, REKO-signed and co-signed): ours and bare, in turns."""
    runs = 3 if context.quick else DEFAULT_RUNS
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as folder:
        layout = PkiLayout(Path(folder) / "pki")
        init_pki(layout.root, passphrase=PASSPHRASE, rekos=[REKO], physicians=[PHYSICIAN])
        store = load_trust_store([layout.ca_cert], [layout.crl])
        pdf = _files(layout)["timestamped REKO + physician"]
        # CPU time: both are pure computation in this process (offline revocation data), and
        # on a shared machine the wall clock adds whatever other processes ran meanwhile.
        ours, bare = in_turns(lambda: _ours(pdf, store), lambda: _bare(pdf, store), runs, WARM_UP,
                              clock=time.process_time)
    row = Row("answer_validation", None, "ms per signed PDF", ours * 1000, bare * 1000,
              detail={"file": "timestamped REKO + physician", "bytes": len(pdf), "runs": runs,
                      "clock": "process CPU time"})
    return [at_most(row, 1.2)]


def _files(layout: PkiLayout) -> dict[str, bytes]:
    answer = StructuredAnswer(
        forfragan_id=REFERENCE,
        besvarad=dt.datetime.now(dt.UTC),
        besvarad_av=Besvarare(REKO.name, REKO.hsa_id),
        svar=(
            Svar(FragaKod.AKTIVITETSFORMAGA, "Klarar lättare arbete fyra timmar per dag."),
            Svar(FragaKod.OVRIGT, "Inga hinder för förmiddagar."),
        ),
        sip_rekommenderas=True,
        i_samrad_med=Lakare(PHYSICIAN.name, PHYSICIAN.hsa_id),
    )
    questions = [Fraga(FragaKod.AKTIVITETSFORMAGA), Fraga(FragaKod.OVRIGT, "Förmiddagar?")]
    pdf = render_answer_pdf(answer, REFERENCE, questions)
    reko = layout.reko_pkcs12(REKO.hsa_id).read_bytes()
    physician = layout.physician_pkcs12(PHYSICIAN.hsa_id).read_bytes()
    timestamper = timestamper_from_files(layout.tsa_cert, layout.tsa_key)
    signed = sign_answer(pdf, reko, PASSPHRASE, "reko")
    stamped = sign_answer(pdf, reko, PASSPHRASE, "reko", timestamper)
    return {
        "REKO-signed": signed,
        "REKO + physician": sign_answer(signed, physician, PASSPHRASE, "lakare"),
        "timestamped REKO + physician": sign_answer(stamped, physician, PASSPHRASE, "lakare"),
    }


def _ours(pdf: bytes, store: TrustStore) -> None:
    now = dt.datetime.now(dt.UTC)
    report = validate_answer(
        pdf,
        trust_roots=store,
        received_at=now - dt.timedelta(hours=1),
        now=now,
        expected_reference=REFERENCE,
    )
    if not apply_signer_rule(report, allowed_hsa_ids=[REKO.hsa_id]).ok:
        raise SystemExit(f"benchmark file refused: {report.failed_codes}")


def _bare(pdf: bytes, store: TrustStore) -> None:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    for sig in reader.embedded_signatures:
        context = ValidationContext(
            trust_roots=list(store.roots), crls=list(store.crls), allow_fetching=False,
            revocation_mode="require",
        )
        if not validate_pdf_signature(sig, context).bottom_line:
            raise SystemExit("bare pyhanko refused a benchmark file")


def _median_ms(run: Callable[[], None], runs: int) -> float:
    for _ in range(WARM_UP):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
