"""Demo and simulation data generators, kept out of the production packages.

``monitoring_world_b``: a second simulator of bank staff activity for the insider
monitoring, written apart from ``custodata.monitoring.simulate`` (its own code and
its own assumptions), so the monitor is measured on activity it was not tuned on.
``monitoring_world_c``: a third, by an engineer who never read the detection code, from
the documented event schema and people-file format only.
"""
