"""The directory of actor names: every name an actor is registered and addressed under.

Actors find each other by name through :class:`laporgub.actors._base.Directory`
(the supervisor re-registers a restarted actor under the same name). The names are
part of the service's surface: they label ``laporgub_actor_restarts_total``, appear
in log lines (``actor=``) and in ``laporgub-fault`` specs. Building them here, and
nowhere else, keeps a sender and its receiver from drifting apart.
"""

from __future__ import annotations

REGISTRY = "registry"
FILTER = "filter"
RESPONDER = "responder"
MONITOR = "monitor"
REPORTER = "reporter"
WEBHOOKS = "webhooks"
API = "api"
#: Prefix of the per-destination dispatchers' names.
DISPATCHER_PREFIX = "dispatcher:"
#: Prefix of the per-modem readers' names.
MODEM_PREFIX = "modem:"


def dispatcher(destination: str) -> str:
    """The name of the GroupDispatcher of ``destination`` (a group key, ``admin``, a leader's key)."""
    return f"{DISPATCHER_PREFIX}{destination}"


def modem(name: str) -> str:
    """The name of the ModemReader of the modem called ``name`` in ``[[modems]]``."""
    return f"{MODEM_PREFIX}{name}"
