"""The periodic-report obligations the simulated agencies file: the report catalog of the contracts.

The catalog (``bus/data/reports.json``, read by :mod:`bus.reporting`) is the one the reports view counts
against, so the simulator files exactly what the views expect, with the same deadlines; this module only
names the parts the simulator uses.
"""

from __future__ import annotations

from bus.reporting import Indicator as IndicatorSpec
from bus.reporting import ReportDefinition as Obligation
from bus.reporting import load_report_catalog

__all__ = ["IndicatorSpec", "Obligation", "load_obligations"]


def load_obligations() -> tuple[Obligation, ...]:
    """Every report regime of the catalog, by code."""
    return tuple(load_report_catalog().reports())
