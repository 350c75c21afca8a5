"""A per-line approval (purchase_requisition's multi-instance approve_line) in chromium: the task page's
form shows the line the task is for (the task's own `line`), and completing it keeps the line's fields."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from runner.models import HumanTask, db
from runner.services import deployments, instances, tasks
from runner.services.tasks import TaskFilter
from tests.helpers import PROCESSES, folder_files

from .conftest import SETUP, add_user, log_in, run_jobs
from .layout_checks import check_readable_diagram

pytestmark = pytest.mark.sqlite_only

PASSWORD = "value-analyst-pw"
LINES = [{"description": "Infusion tubing set", "quantity": 40, "unit_price": 30},
         {"description": "Nitrile gloves, box of 100", "quantity": 20, "unit_price": 9.5},
         {"description": "Vein finder", "quantity": 1, "unit_price": 2500}]


def open_tasks(live, instance_id):
    """(task id, element id, line number or None) of the instance's open tasks, via the services."""
    def run():
        return [(t.id, t.element_id, (t.local_variables or {}).get("line", {}).get("line_no"))
                for t in tasks.list_tasks(TaskFilter(instance_id=instance_id), SETUP)]
    return live.call(run)


@pytest.fixture(scope="module")
def requisition(live):
    files = folder_files(PROCESSES / "purchase_requisition")
    live.call(lambda: deployments.deploy(files, name="purchase_requisition", actor=SETUP))

    def start():
        instance, _ = instances.start_instance("purchase_requisition", "NORTH", {
            "cost_center": "CC-100", "category": "clinical_supplies", "lines": LINES, "requested_by": "dr.lee",
            "justification": "Restock"}, actor=SETUP, business_key="REQ-9001")
        return instance.id
    instance_id = live.call(start)
    run_jobs(live)   # the budget check
    [(task_id, element_id, _)] = open_tasks(live, instance_id)
    assert element_id == "approve_requisition"
    live.call(tasks.claim_task, task_id, actor=SETUP)
    live.call(tasks.complete_task, task_id, {"approval_decision": "approve", "approval_comment": "Go ahead"},
              actor=SETUP)
    add_user(live, "vic", PASSWORD, sites=["NORTH"], groups=["north_value_analysis"])
    return instance_id


def test_the_line_task_page_shows_its_line_and_completing_keeps_the_line(live, page, requisition, screenshots):
    by_line = {line_no: task_id for task_id, element_id, line_no in open_tasks(live, requisition)
               if element_id == "approve_line"}
    assert sorted(by_line) == [1, 3]
    log_in(page, "vic", PASSWORD)

    page.goto(f"/tasks/{by_line[3]}")
    page.click("#claim")
    expect(page).to_have_url(re.compile(rf"/tasks/{by_line[3]}$"))
    form = page.locator("#task-form")
    expect(form).to_have_attribute("data-rendered", "true")
    text = page.locator("#task-form .fjs-form-field-text")
    expect(text).to_contain_text("line 3: Vein finder, 1 × 2500 = 2500")
    expect(text).to_contain_text("Requisition REQ-9001")   # the instance's variables are there too
    assert "Infusion tubing set" not in text.inner_text()
    check_readable_diagram(page.locator("#task-diagram"), ["approve_line"])   # a wide diagram: its current step
    page.screenshot(path=str(screenshots / "line-task-page.png"), full_page=True)

    # the other line's page shows the other line
    page.goto(f"/tasks/{by_line[1]}")
    expect(page.locator("#task-form")).to_have_attribute("data-rendered", "true")
    expect(page.locator("#task-form .fjs-form-field-text")).to_contain_text("line 1: Infusion tubing set")

    # line 3 approved through the page: the review is the whole line plus the answers
    page.goto(f"/tasks/{by_line[3]}")
    expect(form).to_have_attribute("data-rendered", "true")
    form.get_by_label("Approve this line").check()
    form.get_by_label("Comment").fill("Needed for the new suite")
    page.click("#complete")
    expect(page).to_have_url(re.compile(r"/tasks$"))

    def reviews():
        instance = instances.get_instance(requisition, SETUP)
        return instance.variables["line_reviews"], db.session.get(HumanTask, by_line[3]).state
    line_reviews, state = live.call(reviews)
    assert state == "completed"
    assert line_reviews[1] == {"description": "Vein finder", "quantity": 1, "unit_price": 2500, "line_no": 3,
                               "line_total": 2500, "decision": "approve", "comment": "Needed for the new suite"}
