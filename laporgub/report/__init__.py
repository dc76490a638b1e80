"""The monthly report to the Governor: figures in SQL, rendered as PDF, XLSX and CSV.

* :mod:`~laporgub.report.aggregate`: every figure, computed in the database (the tested pure layer);
* :mod:`~laporgub.report.periods`: months, local days and the schedule (pure functions);
* :mod:`~laporgub.report.render_pdf`, :mod:`~laporgub.report.render_xlsx`, :mod:`~laporgub.report.render_csv`,
  :mod:`~laporgub.report.charts`: the formats;
* :mod:`~laporgub.report.build`: one month's files (``laporgub report`` is :mod:`laporgub.cli.report`);
* :mod:`~laporgub.report.settings`: ``[report]``.

The actor that sends it on schedule is :class:`laporgub.actors.reporter.ReportGenerator`.
"""

from __future__ import annotations

from laporgub.report.periods import Month
from laporgub.report.settings import ReportConfig

__all__ = ["Month", "ReportConfig"]
