"""Gunicorn settings of the web process in production: `gunicorn --config gunicorn.conf.py`.

The settings live in the installed package (gateway/gunicorn_conf.py), so that `gateway serve`
and this file are one configuration; read them there. Set a site's own values below the
import (or give them on the command line, e.g. --bind): later assignments win.
"""

from gateway.gunicorn_conf import *  # noqa: F403
