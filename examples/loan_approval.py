"""The seed's long-running example: submit a loan for review, wait up to 48 hours for approval.

    python examples/loan_approval.py    # approves one application, lets another time out (48 h skipped)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from romancy_cli import App, EventTimeout, activity, wait_event, workflow


@dataclass
class LoanApprovalResult:
    status: str  # "approved" or "timed_out"


@activity("submit_for_review")
def submit_for_review(ctx, application_id: str) -> dict:
    print(f"📝 Submitted application {application_id} for manual review")
    return {"application_id": application_id, "review_ticket": f"REV-{application_id}"}


@activity("process_approval")
def process_approval(ctx, approval: Any) -> dict:
    print(f"🏦 Processing approval {approval}")
    return {"processed": True}


@workflow("loan_approval_workflow")
def loan_approval_workflow(ctx, application_id: str) -> LoanApprovalResult:
    submit_for_review.execute(ctx, application_id)
    try:
        # Waiting 48 hours costs a database row, not a process.
        event = wait_event(ctx, "loan.approved", timeout="48h", match={"application_id": application_id})
    except EventTimeout:
        return LoanApprovalResult(status="timed_out")
    process_approval.execute(ctx, event.data)
    return LoanApprovalResult(status="approved")


def main(database: str = "loan_approval.db") -> tuple[str, str]:
    with App(database=database, worker_id="worker-1") as app:
        approved = loan_approval_workflow.start(app, "LOAN-1")
        forgotten = loan_approval_workflow.start(app, "LOAN-2")
        print(f">>> {approved}: {app.get(approved).status}")
        print(f">>> {forgotten}: {app.get(forgotten).status}")
        print(">>> Approving LOAN-1...")
        app.send_event("loan.approved", source="loan-office",
                       data={"application_id": "LOAN-1", "approved_by": "alice"})
        print(">>> Skipping ahead 49 hours (romancy tick --advance 49h)...")
        app.tick(advance="49h")
        for instance_id in (approved, forgotten):
            instance = app.get(instance_id)
            print(f">>> {instance_id}: {instance.status} {instance.output}")
    return approved, forgotten


if __name__ == "__main__":
    main()
