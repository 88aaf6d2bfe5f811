"""Self-contained HTML reports: one per prediction (:func:`write_report`, what the GUI's
File > Export Report calls) and one per batch (:func:`write_batch_report`)."""

from core.report.html import render_report, write_batch_report, write_report

__all__ = ["render_report", "write_batch_report", "write_report"]
