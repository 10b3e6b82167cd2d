"""Gunicorn settings of the web process in production: `gunicorn --config gunicorn.conf.py`.

The app comes from the same factory as every other process and reads the same GATEWAY_*
environment (systemd: EnvironmentFile=/etc/kryddgarden/gateway.env). nginx terminates TLS in
front (GATEWAY_PROXY_HOPS=1) and buffers request bodies, so a worker never waits on a slow
client. Options given on the command line (e.g. --bind) override these.
"""

import os

wsgi_app = "gateway:create_app()"
bind = os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")

# Threads, not processes, carry concurrency: a request mostly waits on PostgreSQL. Each process
# holds its own connection pool (SQLAlchemy's default 5 + 10 overflow); workers x pool must stay
# below the server's max_connections with the workers and SMTP listeners counted in.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GATEWAY_WEB_THREADS", "4"))

# No preloading: every worker builds the app (and its engine) after the fork, so no database
# connection is ever shared between processes and no post_fork hook is needed.
preload_app = False

# A 30 MB SDK message is validated in seconds; a worker silent this long is stuck, not busy.
timeout = 60
graceful_timeout = 30
# Behind nginx on loopback: keep its upstream connections briefly.
keepalive = 5

# glibc keeps freed memory per thread arena: a worker that took large bodies is replaced after
# this many requests (jitter spreads the restarts so they never all happen at once).
max_requests = 1000
max_requests_jitter = 200

# Header limits as gunicorn's defaults, written out so nginx's can be checked against them.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# X-Forwarded-* are believed from nginx on loopback only (the app's ProxyFix does the same).
forwarded_allow_ips = "127.0.0.1"

# The heartbeat file in memory: /tmp may be on a slow or read-only disk.
worker_tmp_dir = "/dev/shm"

accesslog = "-"
# No query strings in the access log: they could carry identifiers.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
proc_name = "kryddgarden-web"
