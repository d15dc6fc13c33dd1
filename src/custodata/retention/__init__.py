"""Retention by purpose [数据存储期限]: a policy as data, what it expires when, and legal holds.

* :mod:`.policy` — the YAML policy (``retention.yaml`` beside this file, or
  ``CUSTODATA_RETENTION_POLICY``), validated at load with errors naming the key;
* :mod:`.expiry` — what expires when, computed in the batch store through its engine;
* :mod:`.holds` — legal holds that suspend expiry (two people to lift one);
* :mod:`.report` — the report ``custodata retention report`` prints.

The job that carries the policy out is :mod:`custodata.jobs.retention`.
"""

from custodata.retention.holds import Hold, HoldRefused, held_customers, list_holds, place_hold, release_hold
from custodata.retention.policy import RetentionPolicy, Rule, load_policy
from custodata.retention.report import ReportLine, expiry_report

__all__ = ["Hold", "HoldRefused", "ReportLine", "RetentionPolicy", "Rule", "expiry_report", "held_customers",
           "list_holds", "load_policy", "place_hold", "release_hold"]
