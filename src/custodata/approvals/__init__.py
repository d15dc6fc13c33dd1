"""Maker-checker approvals [双人复核] for golden-record edits and bulk exports, and export watermarks.

A maker files a request (correct a field, merge, unmerge, export); a different
person holding the approving permission decides it; approved changes run
through the data steward operations, approved exports are written masked,
watermarked for their recipient, and expire.  ``read_watermark`` tells who an
exported file (or rows pasted from it) was given to.
"""

from custodata.approvals.changes import Sealer, Steward, proposed_value
from custodata.approvals.exports import ExportFile, WatermarkReport, read_watermark
from custodata.approvals.request import (
    AccessDecisionLike,
    ApprovalDenied,
    ApprovalError,
    Authorize,
    ExportExpired,
    InvalidRequest,
    Request,
    RequestStateError,
    Subject,
)
from custodata.approvals.secret import watermark_secret
from custodata.approvals.workflow import Approvals

__all__ = [
    "AccessDecisionLike", "ApprovalDenied", "ApprovalError", "Approvals", "Authorize", "ExportExpired",
    "ExportFile", "InvalidRequest", "Request", "RequestStateError", "Sealer", "Steward", "Subject",
    "WatermarkReport", "proposed_value", "read_watermark", "watermark_secret",
]
