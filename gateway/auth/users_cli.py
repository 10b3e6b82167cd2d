"""The `gateway users` commands: add, list, otp, password, activate and deactivate web users."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway import codes
from gateway.auth import users
from gateway.auth.models import Role, User
from gateway.clitools import app, echo_json, fail, with_app
from gateway.db import database
from gateway.errors import GatewayError

F = TypeVar("F", bound=Callable[..., Any])

ROLE_HELP = ", ".join(r.value for r in Role) + " (Swedish names such as reko also work)"


def clean_errors(func: F) -> F:
    """Turn refusals and an unusable database into a message and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GatewayError as exc:
            fail(exc.title + (f": {exc.detail}" if exc.detail else ""))
        except SQLAlchemyError as exc:
            # The driver's text may quote data; the class name and a hint are enough.
            fail(f"the database could not be used ({type(exc).__name__}); "
                 "is it reachable and upgraded (gateway db upgrade)?")
        return None

    return wrapper  # type: ignore[return-value]


@contextmanager
def transaction() -> Iterator[Session]:
    with database(app()).transaction() as session:
        yield session


def read_password(stream: Any) -> str:
    """Return the first line of stream without its line ending; refuse an empty one."""
    line: str = stream.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise GatewayError.at(
            codes.PASSWORD_MISSING, "Skicka lösenordet som första rad, t.ex. via en pipe.",
        )
    return password


def _need_stdin(flag: bool) -> None:
    if not flag:
        raise click.UsageError(
            "give --password-stdin and the password as the first line of standard input "
            "(passwords are never taken as arguments: they would show in the process list)"
        )


def _get_user(session: Session, username: str) -> User:
    user = users.find_user(session, username)
    if user is None:
        raise GatewayError.at(codes.UNKNOWN_USER, f"{username!r}", status=404)
    return user


@click.group("users", help="Web users: password plus TOTP, with a role.")
def users_group() -> None:
    pass


@users_group.command("add", help="Add a web user; prints the TOTP secret to enrol an app with.")
@click.option("--username", required=True)
@click.option("--role", required=True, help=ROLE_HELP)
@click.option("--unit", help="case_worker: the sender unit's name or functional address")
@click.option("--hsa-id", help="coordinator: the REKO's HSA-id in the directory")
@click.option("--display-name", default="", help="the name shown in the UI")
@click.option("--phone", help="the user's work phone (the web form pre-fills it)")
@click.option("--email", help="the user's work e-mail (the web form pre-fills it)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@with_app
@clean_errors
def add_user(
    username: str, role: str, unit: str | None, hsa_id: str | None, display_name: str,
    phone: str | None, email: str | None, password_stdin: bool,
) -> None:
    _need_stdin(password_stdin)
    password = read_password(sys.stdin)
    with transaction() as session:
        user, secret = users.create_user(
            session, username=username, role=role, password=password,
            display_name=display_name, unit=unit, hsa_id=hsa_id, phone=phone, email=email,
            actor="cli:users add",
        )
        uri = users.provisioning_uri(user)
        click.echo(f"user {user.username} added ({user.role.value})")
    click.echo(f"TOTP secret: {secret}")
    click.echo(f"otpauth URI: {uri}")


@users_group.command("list", help="List web users (no secrets).")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_app
@clean_errors
def list_users(as_json: bool) -> None:
    with transaction() as session:
        rows = [_summary(u) for u in session.scalars(select(User).order_by(User.username))]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = "" if row["active"] else "  (inactive)"
        binding = row["unit"] or row["hsa_id"] or "-"
        click.echo(f"{row['username']:<24} {row['role']:<16} {binding}{state}")


def _summary(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
        "unit": user.sender_unit.name if user.sender_unit else None,
        "hsa_id": user.hsa_id,
        "phone": user.phone,
        "email": user.email,
        "active": user.active,
    }


@users_group.command(
    "otp",
    help="Print a user's current TOTP code. An operator tool for the demo: it reads the stored "
    "secret, so anyone who can run it can pass the second factor for that user.",
)
@click.option("--username", required=True)
@with_app
@clean_errors
def otp_code(username: str) -> None:
    with transaction() as session:
        click.echo(users.current_code(_get_user(session, username)))


@users_group.command("contact", help="Set a user's work phone and e-mail (\"\" clears one).")
@click.option("--username", required=True)
@click.option("--phone", help="the work phone")
@click.option("--email", help="the work e-mail")
@with_app
@clean_errors
def set_contact(username: str, phone: str | None, email: str | None) -> None:
    with transaction() as session:
        user = _get_user(session, username)
        users.set_contact(session, user, phone=phone, email=email, actor="cli:users contact")
    click.echo(f"contact of {user.username} changed")


@users_group.command("password", help="Set a user's password, read from standard input.")
@click.option("--username", required=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@with_app
@clean_errors
def set_password(username: str, password_stdin: bool) -> None:
    _need_stdin(password_stdin)
    password = read_password(sys.stdin)
    with transaction() as session:
        user = _get_user(session, username)
        users.set_password(session, user, password, actor="cli:users password")
    click.echo(f"password of {user.username} changed")


def _set_active(username: str, active: bool) -> None:
    with transaction() as session:
        user = _get_user(session, username)
        command = "activate" if active else "deactivate"
        users.set_active(session, user, active, actor=f"cli:users {command}")
    click.echo(f"user {user.username} {'activated' if active else 'deactivated'}")


@users_group.command("deactivate", help="Stop a user from logging in (ends their sessions).")
@click.option("--username", required=True)
@with_app
@clean_errors
def deactivate(username: str) -> None:
    _set_active(username, False)


@users_group.command("activate", help="Let a deactivated user log in again.")
@click.option("--username", required=True)
@with_app
@clean_errors
def activate(username: str) -> None:
    _set_active(username, True)
