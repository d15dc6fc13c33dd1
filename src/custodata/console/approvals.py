"""The approvals inbox (maker-checker): decide others' requests, follow one's own and their jobs, fetch exports."""

# No `from __future__ import annotations`: FastAPI must evaluate the Depends(console.…) annotations
# of the route functions, which refer to a local of routes().

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import FileResponse

from custodata.console.web import Console, Ctx, route_class
from custodata.service import governance, jobs, review


def routes(console: Console) -> APIRouter:
    router = APIRouter(route_class=route_class(console), include_in_schema=False)

    def page(ctx: Ctx, notice: str | None = None) -> Response:
        # a security officer decides role grants and others' policy imports; an administrator files grants
        may_decide = ctx.can("change.approve", "export.approve", "policy.write")
        may_request = ctx.can("change.request", "export.request", "people.write", "policy.write")
        inbox = governance.inbox(ctx.svc, ctx.me) if may_decide else []
        # the checker sees what is proposed, masked for the checker, each read audited
        proposal_of = review.proposals(ctx.svc, ctx.me, inbox) if inbox else {}
        mine = governance.mine(ctx.svc, ctx.me) if may_request else []
        decided = governance.decided(ctx.svc, ctx.me) if may_decide else []  # approved and rejected alike
        job_of = jobs.jobs_of(ctx.svc, [*inbox, *mine, *decided])
        return console.render(ctx, "approvals.html", inbox=inbox, mine=mine, decided=decided, job_of=job_of,
                              proposal_of=proposal_of,
                              may_decide=may_decide, may_request=may_request, notice=notice)

    @router.get("/approvals")
    def approvals(ctx: Annotated[Ctx, Depends(console.page)]) -> Response:
        return page(ctx)

    @router.post("/approvals/{request_id}/decide")
    def decide(ctx: Annotated[Ctx, Depends(console.post)], request_id: str) -> Response:
        verdict = ctx.field("verdict")
        if verdict not in ("approve", "reject"):
            raise ValueError("verdict must be approve or reject")
        note = ctx.field("note")
        if not note:
            raise ValueError("a decision needs a note")
        decided = governance.decide(ctx.svc, ctx.me, request_id, approve=verdict == "approve", note=note)
        word = ctx.t("approvals.verdict.approved" if verdict == "approve" else "approvals.verdict.rejected")
        notice = ctx.t("approvals.decided", id=request_id, verdict=word)
        if isinstance(decided, governance.Queued):
            notice += " " + ctx.t("approvals.queued", job=decided.job.id)
        return page(ctx, notice)

    @router.post("/jobs/{job_id}/retry")
    def retry(ctx: Annotated[Ctx, Depends(console.post)], job_id: int) -> Response:
        job = jobs.retry_job(ctx.svc, ctx.me, job_id)
        return page(ctx, ctx.t("approvals.retried", job=job.id, id=job.request_id))

    @router.get("/exports/{export_id}")
    def download(ctx: Annotated[Ctx, Depends(console.page)], export_id: str) -> Response:
        path = governance.download(ctx.svc, ctx.me, export_id)
        return FileResponse(path, filename=path.name, headers={"Cache-Control": "no-store"})

    return router
