"""deploy/'s files agree with the app and with the programs that read them: gunicorn knows every
setting of the config file, nginx's body limit is the app's, the systemd units parse with their
hardening drop-in, and each unit starts a command the `gateway` script has."""

from __future__ import annotations

import configparser
import os
import re
import runpy
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from gunicorn.config import Config

from gateway import create_app
from gateway.cli import _register, cli
from tests.conftest import test_config
from tests.support.deploy import DEPLOY

UNITS = sorted((DEPLOY / "systemd").glob("gateway-*.service"))
DROP_IN = DEPLOY / "systemd" / "gateway-.service.d" / "hardening.conf"


def test_gunicorn_knows_every_setting_in_the_config_file() -> None:
    # Gunicorn skips names it does not know without a word: a typo would silently do nothing.
    names = {
        name for name in runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
        if not name.startswith("_") and name != "os"
    }
    assert names <= set(Config().settings), names - set(Config().settings)
    assert {"wsgi_app", "max_requests", "max_requests_jitter", "timeout"} <= names


def test_nginx_body_limit_is_the_apps(tmp_path: Path) -> None:
    app = create_app(test_config(tmp_path, f"sqlite:///{tmp_path / 'gw.sqlite'}"))
    site = (DEPLOY / "nginx" / "gateway.conf").read_text()
    web, ap = (block for block in site.split("\nserver {")[1:] if "client_max_body_size" in block)
    assert "server_name ap." in ap and "server_name ap." not in web
    assert re.findall(r"client_max_body_size (\d+)m;", web) == [
        str(app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024))]
    assert app.config["MAX_CONTENT_LENGTH"] % (1024 * 1024) == 0
    # The access point's: GATEWAY_AP_MAX_BYTES to the byte.
    assert re.findall(r"client_max_body_size (\d+);", ap) == [str(app.config["AP_MAX_BYTES"])]


def exec_start(unit: Path) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(unit)
    return shlex.split(parser["Service"]["ExecStart"])


@pytest.mark.parametrize("unit", UNITS, ids=[u.stem for u in UNITS])
def test_each_unit_starts_a_gateway_command_with_options_it_knows(unit: Path) -> None:
    command = exec_start(unit)
    program = Path(command[0]).name
    if program == "gunicorn":
        assert "--config" in command
        return
    assert program == "gateway"
    _register()
    if command[1] not in cli.commands:
        assert command[1] == "ap", f"no `gateway {command[1]}`"
        pytest.skip("`gateway ap` is not in this build yet (federation)")
    # Click refuses an unknown option before it shows the help.
    shown = CliRunner().invoke(cli, [*command[1:], "--help"])
    assert shown.exit_code == 0, shown.output


def test_units_parse_and_take_the_hardening_drop_in(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    system = tmp_path / "etc" / "systemd" / "system"
    shutil.copytree(DEPLOY / "systemd", system)
    for program in ("gunicorn", "gateway"):
        path = tmp_path / "opt" / "kryddgarden" / "bin" / program
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    result = subprocess.run(
        [analyze, "verify", f"--root={tmp_path}", *(u.name for u in UNITS)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "debug"},
    )
    output = result.stdout + result.stderr
    problems = [line for line in output.splitlines()
                if re.search(r"\.(service|conf):\d+: ", line) and "system call" not in line]
    assert not problems, "\n".join(problems)
    for unit in UNITS:
        assert f"{system}/gateway-.service.d/{DROP_IN.name}" in output, unit.name
    hardening = DROP_IN.read_text()
    for option in ("ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                   "ReadWritePaths=/var/lib/kryddgarden"):
        assert option in hardening
