"""The `gateway users` and `gateway clients` commands."""

from gateway.auth.clients_cli import clients_group
from gateway.auth.users_cli import users_group

__all__ = ["clients_group", "users_group"]
