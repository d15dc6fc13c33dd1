"""Jobs [作业]: approved changes queued in the operational store and applied in order by one worker.

``decide`` enqueues; the worker (:mod:`custodata.jobs.worker`: ``custodata worker``,
or a thread of ``custodata serve``) claims one job at a time under a lease, so two
processes never both write the batch store, a crashed worker's job is taken up
again, and nothing is applied twice.
"""

from custodata.jobs.queue import APPLY_CHANGE, Job, JobError, JobQueue

__all__ = ["APPLY_CHANGE", "Job", "JobError", "JobQueue"]
