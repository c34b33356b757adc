"""Exports for staff and administrators: submissions as CSV / XLSX / JSON, the
consultation report (DOCX / XLSX), and statistics with a chart.

No Telegram here: the functions write bytes to a binary stream (or return them), and
the staff chat's handlers or the `civicbot export` / `civicbot report` commands decide
where they go. The slug `general` names the general "ask, suggest" channel
(submissions with no consultation).
"""

from bot.export.common import (
    GENERAL_SLUG,
    AmbiguousSlug,
    ExportError,
    NoReport,
    UnknownConsultation,
    neutralise,
)
from bot.export.report import REPORT_FORMATS, ReportFormat, consultation_report
from bot.export.stats import (
    ConsultationStats,
    SectionCount,
    consultation_stats,
    stats_chart,
    stats_text,
)
from bot.export.submissions import FORMATS, ExportFormat, csv_delimiter, export_submissions

__all__ = [
    "FORMATS",
    "GENERAL_SLUG",
    "REPORT_FORMATS",
    "AmbiguousSlug",
    "ConsultationStats",
    "ExportError",
    "ExportFormat",
    "NoReport",
    "ReportFormat",
    "SectionCount",
    "UnknownConsultation",
    "consultation_report",
    "consultation_stats",
    "csv_delimiter",
    "export_submissions",
    "neutralise",
    "stats_chart",
    "stats_text",
]
