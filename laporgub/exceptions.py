"""One exception hierarchy for LaporGub."""

from __future__ import annotations


class LaporgubError(Exception):
    """Raised when anything LaporGub-specific goes wrong; base of all our errors."""


class ConfigError(LaporgubError):
    """Raised when config.toml cannot be read or is invalid; carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ModemError(LaporgubError):
    """Raised when a GSM modem cannot be opened, initialised or talked to."""


class ActorStartError(LaporgubError):
    """Raised when an actor dies in its start-up (the cause is logged by the actor)."""


class PduError(LaporgubError, ValueError):
    """Raised when an SMS PDU cannot be decoded or encoded."""


class RegistryError(LaporgubError):
    """Raised when the ticket registry cannot store an SMS or a ticket."""


class DispatchError(LaporgubError):
    """Raised when a Telegram notification cannot be handed to the Bot API."""


class ApiServerError(LaporgubError):
    """Raised when the website HTTP API cannot listen or its server stops underneath."""
