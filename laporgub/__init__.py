"""LaporGub: the service behind the SMS Center LAPOR GUB! of Central Java."""

__version__ = "0.1.0"
