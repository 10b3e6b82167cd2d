"""The daily auth.prune: used assertions past their expiry, tokens a day past theirs and login
attempts older than GATEWAY_LOGIN_ATTEMPTS_KEPT_DAYS go; everything that can still matter
stays, and a token that still works keeps working."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.auth.models import ApiToken, LoginAttempt, UsedAssertion
from gateway.auth.pruning import PRUNE_JOB, prune
from gateway.db import get_session, utcnow
from gateway.jobs.registry import recurring_kinds
from tests.support.intake import bearer, load_directory, new_client
from tests.support.sdk import MESSAGES


def _count(model: type) -> int:
    return get_session().scalar(select(func.count()).select_from(model)) or 0


def test_what_can_no_longer_matter_goes_and_the_rest_stays(app: Flask,
                                                            client: FlaskClient) -> None:
    session = get_session()
    load_directory(session)
    now = utcnow()
    live = new_client(session)
    expired_yesterday = new_client(session, expires_in=-3600)
    long_expired = new_client(session, expires_in=-3 * 86400)
    session.add_all([
        UsedAssertion(digest="a" * 64, expires_at=now - dt.timedelta(minutes=1)),
        UsedAssertion(digest="b" * 64, expires_at=now + dt.timedelta(minutes=30)),
        LoginAttempt(at=now - dt.timedelta(days=31), username="anna", remote_addr="10.0.0.1",
                     success=False),
        LoginAttempt(at=now - dt.timedelta(days=29), username="anna", remote_addr="10.0.0.1",
                     success=False),
    ])
    session.commit()

    pruned = prune(session, now, login_days=30, session_hours=10)
    session.commit()

    assert (pruned.assertions, pruned.tokens, pruned.login_attempts) == (1, 1, 1)
    assert [a.digest[0] for a in get_session().scalars(select(UsedAssertion))] == ["b"]
    assert _count(ApiToken) == 2
    assert _count(LoginAttempt) == 1
    # The live token still opens the API; the pruned one is unknown, the other still expired.
    assert client.get(MESSAGES, headers=bearer(live)).status_code == 200
    for token in (expired_yesterday, long_expired):
        assert client.get(MESSAGES, headers=bearer(token)).status_code == 401
    # Running again prunes nothing more.
    again = prune(get_session(), now, login_days=30, session_hours=10)
    assert (again.assertions, again.tokens, again.login_attempts) == (0, 0, 0)


def test_the_worker_prunes_daily() -> None:
    assert recurring_kinds()[PRUNE_JOB] == dt.timedelta(days=1)
