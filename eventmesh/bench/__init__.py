"""``eventmesh bench``: throughput and latency of eventmesh, beside a baseline, in one run.

Modules, each with one job:

* :mod:`~eventmesh.bench.options`: the command's arguments and their validation;
* :mod:`~eventmesh.bench.workload`: the handlers (noop, sleep, cpu) that record latency;
* :mod:`~eventmesh.bench.recorder`: raw samples, then HDR percentiles and rates over time;
* :mod:`~eventmesh.bench.runner`: the closed-loop and open-loop producers;
* :mod:`~eventmesh.bench.scenarios`: what is measured, and the baseline of each;
* :mod:`~eventmesh.bench.report`, :mod:`~eventmesh.bench.plot`: the table, the JSON, the plot;
* :mod:`~eventmesh.bench.command`: ties them together for the ``bench`` subcommand.

Nothing here is imported by ``import eventmesh``; the dependencies of the ``bench`` extra
(``hdrhistogram``, ``rich``) are imported only when a benchmark runs.
"""
