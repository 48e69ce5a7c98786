"""The retail OLTP workload: real SQL transactions against the source database for change capture to pick up.

``initialize`` creates the catalog's tables (replica identity full, foreign-key indexes) and bulk-loads a
population with COPY; ``build_runner`` returns a runner that applies a seeded, reproducible mix of business
transactions (sign-ups, repricing, orders placed, paid, shipped, delivered, cancelled, ...) at a rate of row
changes per second. Generation (``model``, ``*_actions``) is pure; ``executor`` and ``bulk_load`` do the I/O.
"""

from producers.workload.population import PopulationSize
from producers.workload.runner import RunLimits, WorkloadRunner, stop_on_signals
from producers.workload.service import InitResult, build_runner, initialize
from producers.workload.summary import RunSummary

__all__ = [
    "InitResult",
    "PopulationSize",
    "RunLimits",
    "RunSummary",
    "WorkloadRunner",
    "build_runner",
    "initialize",
    "stop_on_signals",
]
