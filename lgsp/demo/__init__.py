"""``lgsp demo``: the whole bus on one machine, from an empty state dir to the national scoreboard.

The steps, each in its own module:

1. :mod:`~lgsp.demo.stack` — the local Kafka and registry (``lgsp dev up``, reused when up), or the ones the
   settings name (``--no-dev-stack``);
2. topics and schemas, as ``lgsp topics create`` and ``lgsp schemas register`` do;
3. :mod:`~lgsp.demo.children` — ``lgsp views run``, ``lgsp views serve`` and ``lgsp ingress`` as child
   processes with their own logs and pid files under ``<state dir>/demo``;
4. the simulated nation, published from this process with live progress (:mod:`~lgsp.demo.progress`), while
   the view builder's ``/metrics`` is read for what it applied (:mod:`~lgsp.demo.scrape`);
5. wait until the views have applied everything on the topics, print the scoreboard and where to look further
   (:mod:`~lgsp.demo.report`).

:func:`~lgsp.demo.run.run_demo` ties them together; ``lgsp/commands/demo.py`` is the CLI over it.
"""

from lgsp.demo.options import DemoOptions, DemoPaths, PortRequest, Traffic
from lgsp.demo.run import run_demo, stop_demo

__all__ = ["DemoOptions", "DemoPaths", "PortRequest", "Traffic", "run_demo", "stop_demo"]
