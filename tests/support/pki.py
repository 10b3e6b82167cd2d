"""The test session's development PKI: made once (key generation is the slow part), read where
it is, or copied into a test's instance folder.

A pytest plugin (`pytest_plugins` in tests/conftest.py): tests name its fixtures without imports.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from signing.devpki import DEMO_ORGANISATIONS, PkiLayout, init_pki
from tests.support.pdfs import PASSPHRASE, PHYSICIAN, REKO, REKO_OTHER_VC, TestPki
from tests.support.reko import ANNA, CECILIA

# Everyone any test signs as: the PDF tests' REKOs, the demo directory's REKOs, one physician.
REKOS = (REKO, REKO_OTHER_VC, ANNA, CECILIA)
PHYSICIANS = (PHYSICIAN,)


def make_dev_pki(root: Path) -> Path:
    """Make a development PKI in root (CA, CRL, SMTP, TSA, access point, the demo organisations
    with encryption certificates, REKOS and PHYSICIANS with PKCS#12 files under PASSPHRASE);
    return root."""
    init_pki(root, passphrase=PASSPHRASE, rekos=REKOS, physicians=PHYSICIANS,
             organisations=DEMO_ORGANISATIONS, encryption_certificates=True)
    return root


def install_pki(instance: Path, template: Path) -> None:
    """Copy the PKI folder `template` into the instance folder, where the app looks for it."""
    shutil.copytree(template, PkiLayout.for_instance(instance).root)


@pytest.fixture(scope="session")
def pki_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's development PKI folder: read it or install_pki it; never change it."""
    return make_dev_pki(tmp_path_factory.mktemp("devpki") / "pki")


@pytest.fixture(scope="session")
def reko_pki_template(pki_template: Path) -> Path:
    """The same PKI under the name the REKO tests knew it by."""
    return pki_template


@pytest.fixture(scope="session")
def pki(pki_template: Path) -> TestPki:
    """The session's PKI as a TestPki (certificates to refuse are made once, on demand)."""
    return TestPki(PkiLayout(pki_template))


@pytest.fixture
def installed_pki(instance: Path, pki_template: Path) -> TestPki:
    """The session's PKI copied into the test's instance folder, as `gateway pki init` would."""
    install_pki(instance, pki_template)
    return TestPki(PkiLayout.for_instance(instance))
