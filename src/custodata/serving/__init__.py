"""The served customer view: the published total domain in the operational store, for indexed look-ups.

Each pipeline publish loads a new generation of per-customer documents (the 360°
view, protected fields still encrypted) and switches to it in one transaction, so
the service answers throughout.  See :mod:`custodata.serving.publish` and
:mod:`custodata.serving.served_view`.
"""

from custodata.serving.keys import ServedKeyRing, protector_from_ops
from custodata.serving.publish import ServedReport, publish_served, sync_served_keys
from custodata.serving.served_view import InvalidQueryError, ServedView

__all__ = ["InvalidQueryError", "ServedKeyRing", "ServedReport", "ServedView", "protector_from_ops", "publish_served",
           "sync_served_keys"]
