"""Emulators shipped with the package: a GSM modem on a pty and a Telegram Bot API stand-in.

Tests and ``laporgub demo`` use them; they are kept no kinder than the real thing.
"""
