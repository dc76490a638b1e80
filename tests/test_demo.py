"""``laporgub demo``, as a user runs it: no hardware, no Telegram account, exit 0 when everything was handled."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_runs_every_sms_and_a_web_complaint_to_telegram() -> None:
    proc = subprocess.run([sys.executable, "-m", "laporgub", "demo"], capture_output=True, text=True, timeout=180,
                          cwd="/")
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-2000:]
    assert "Demo finished: every SMS handled as its kind says." in out
    # The website's complaint: 201, then the retried POST answers 200 with the same ticket.
    web = re.search(r"201 ticket (\d{6}-4444-1); the same POST again \(a retry\): 200 ticket (\S+),", out)
    assert web and web.group(1) == web.group(2), out[-3000:]
    assert re.search(rf"{web.group(1)} -> Telegram Group Infrastruktur: notify", out)
    # Every stage within its SLA, no SMS left on the modem, no phone number in clear.
    assert "modem storage left: 0 SMS" in out
    for stage in ("register", "filter", "notify", "deliver"):
        row = re.search(rf"^  {stage}\s+(\d+)\s+\S+\s+\S+\s+(\d+)/(\d+)$", out, re.M)
        assert row and row.group(2) == row.group(3) == row.group(1), stage
    assert not re.search(r"\+?628\d{8,}|08\d{8,}", out)
