"""Demo and simulation data generators, kept out of the production packages.

``sources``: the demo financial group's raw exports (seven source systems with their faults)
and their ground truth (``custodata generate``, ``make demo``, tests and benchmarks).

``monitoring_world_a`` (with ``_calendar``, ``_habits``, ``_inject``, ``_world``): the
first simulator of staff activity with labelled insiders (``custodata simulate-activity``,
``make demo``), the one the monitoring rules were tuned on (seed 7).
``monitoring_world_b``: a second simulator of bank staff activity for the insider
monitoring, written apart from ``custodata.demo.monitoring_world_a`` (its own code and
its own assumptions), so the monitor is measured on activity it was not tuned on.
``monitoring_world_c``: a third, by an engineer who never read the detection code, from
the documented event schema and people-file format only.
"""
