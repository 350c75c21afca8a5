"""Issue 4, staff: a NORTH clerk works the patient_refund tasks in chromium, end to end."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import event

from runner.models import db
from runner.services import instances, tasks
from runner.services.tasks import TaskFilter

from .conftest import SETUP, add_user, deploy_refund, log_in, run_jobs, start_refund
from .layout_checks import check_level_with_row, check_pan_and_zoom, check_readable_diagram

pytestmark = pytest.mark.sqlite_only

PASSWORD = "north-clerk-pw"


def open_task(live, instance_id):
    """(task id, element id, state) of the instance's only open task (read through the services)."""
    def run():
        [task] = tasks.list_tasks(TaskFilter(instance_id=instance_id), SETUP)
        return task.id, task.element_id, task.assignee
    return live.call(run)


def instance_state(live, instance_id):
    def run():
        instance = instances.get_instance(instance_id, SETUP)
        return instance.state, list(instance.activities), dict(instance.variables)
    return live.call(run)


def audit_actions(live, instance_id):
    return live.call(lambda: [e.action for e in instances.instance_history(instance_id, SETUP)])


def rows(page):
    return page.locator("#task-list tbody tr")


def business_keys(page):
    return sorted(rows(page).evaluate_all("rows => rows.map(r => r.dataset.businessKey)"))


@pytest.fixture(scope="module")
def refunds(live):
    deploy_refund(live)
    big = start_refund(live, "NORTH", "PA-N1", 1800)      # north_finance, then refund_controllers
    small = start_refund(live, "NORTH", "PA-N2", 300)     # north_billing
    south = start_refund(live, "SOUTH", "PA-S1", 100)     # south_billing: nina is in that group, but not at SOUTH
    run_jobs(live)                                 # service tasks before the first approval, if any
    # a group name alone must never reveal another site's work: nina is in south_billing too
    add_user(live, "nina", PASSWORD, sites=["NORTH"],
             groups=["north_billing", "north_finance", "refund_controllers", "south_billing"])
    return {"big": big, "small": small, "south": south}


def test_north_clerk_claims_fills_and_completes_a_refund_approval(live, page, refunds, screenshots):
    log_in(page, "nina", PASSWORD)

    # group tasks: only NORTH's, with their SLA state (due in 2 days: on track)
    page.goto("/tasks/group")
    assert business_keys(page) == ["PA-N1", "PA-N2"]
    assert "PA-S1" not in page.content()
    expect(rows(page).first.locator("[data-sla]")).to_have_attribute("data-sla", "on-track")
    assert "SOUTH" not in page.locator("#f-site").inner_text()
    page.select_option("#f-site", "NORTH")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert "site=NORTH" in page.url
    assert business_keys(page) == ["PA-N1", "PA-N2"]

    # claim PA-N1: its task page opens with the form (form-js) and the diagram (bpmn-js)
    task_id, element_id, _ = open_task(live, refunds["big"])
    assert element_id == "first_approval"
    for row in rows(page).all():    # the Claim buttons sit level with their row's text
        check_level_with_row(row, "Claim")
    page.screenshot(path=str(screenshots / "group-tasks.png"))
    rows(page).filter(has_text="PA-N1").get_by_role("button", name="Claim").click()
    expect(page).to_have_url(re.compile(rf"/tasks/{task_id}$"))
    assert open_task(live, refunds["big"])[2] == "nina"
    form = page.locator("#task-form")
    expect(form).to_have_attribute("data-rendered", "true")
    expect(page.locator("#task-diagram")).to_have_attribute("data-rendered", "true")
    fields = page.locator("#task-form .fjs-form-field").locator("input, textarea")
    assert fields.count() >= 4   # two radio buttons, the amount, the comment
    expect(page.locator("#task-form .fjs-form-field-text")).to_contain_text("Refund of 1800")
    assert page.locator("#task-diagram .djs-element").count() > 10
    current = page.locator("#task-diagram .djs-element.lanes-current")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-element-id", element_id)
    expect(page.locator("#task-diagram .lanes-badge-current")).to_be_visible()
    expect(page.locator("#task-diagram .bjs-powered-by")).to_be_visible()   # bpmn.io watermark
    expect(page.locator("#task-form .fjs-powered-by")).to_be_visible()      # form-js watermark
    # readable: zoomed to at least the minimum, the current step in view, the watermark on top
    check_readable_diagram(page.locator("#task-diagram"), [element_id])
    page.screenshot(path=str(screenshots / "task-page.png"), full_page=True)
    check_pan_and_zoom(page, page.locator("#task-diagram"))

    # an empty form: form-js shows the errors next to the fields, nothing is sent
    page.click("#complete")
    expect(page.locator("#task-form .fjs-form-field-error").first).to_be_visible()
    expect(page.locator("#form-status")).to_contain_text("correct")
    expect(page).to_have_url(re.compile(rf"/tasks/{task_id}$"))

    # data the server refuses (as a stale or tampered page would send it): errors per field, input kept
    form.get_by_label("Comment").fill("Checked against the ledger")
    page.evaluate("""() => {
        const form = document.getElementById('complete-form');
        form.querySelector('input[name=data]').value = JSON.stringify(
            {decision: 'maybe', approved_amount: -5, comment: 'Checked against the ledger'});
        HTMLFormElement.prototype.submit.call(form);
    }""")
    page.wait_for_load_state()
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("Decision")
    expect(summary).to_contain_text("Approved amount")
    expect(page.locator("#task-form")).to_have_attribute("data-server-errors", "shown")
    expect(form.get_by_label("Comment")).to_have_value("Checked against the ledger")
    expect(form.get_by_label("Approved amount")).to_have_value("-5")
    assert page.locator("#task-form .fjs-has-errors").count() >= 2
    state, activities, variables = instance_state(live, refunds["big"])
    assert (state, activities) == ("running", ["first_approval"])
    assert "decision" not in variables and "comment" not in variables
    assert "task.completed" not in audit_actions(live, refunds["big"])
    page.screenshot(path=str(screenshots / "task-page-server-errors.png"), full_page=True)

    # a valid form completes the task; the instance moves on to the second approval
    form.get_by_label("Approve", exact=True).check()
    form.get_by_label("Approved amount").fill("")
    form.get_by_label("Comment").fill("Verified the overpayment")
    page.click("#complete")
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.locator(".flash.info")).to_contain_text("is done")
    expect(page.locator("#task-list-empty")).to_be_visible()   # nina's only claimed task is done
    state, activities, variables = instance_state(live, refunds["big"])
    assert (state, activities) == ("running", ["second_approval"])
    assert (variables["decision"], variables["comment"]) == ("approve", "Verified the overpayment")
    page.goto("/tasks/group")
    expect(rows(page).filter(has_text="PA-N1")).to_contain_text("Second approval")

    # claim and unclaim from the lists
    with page.expect_navigation():  # the claim lands before we look at the personal list
        rows(page).filter(has_text="PA-N2").get_by_role("button", name="Claim").click()
    page.goto("/tasks")
    assert business_keys(page) == ["PA-N2"]
    check_level_with_row(rows(page).first, "Unclaim")
    rows(page).filter(has_text="PA-N2").get_by_role("button", name="Unclaim").click()
    expect(page).to_have_url(re.compile(r"/tasks$"))
    expect(page.locator("#task-list-empty")).to_be_visible()
    assert open_task(live, refunds["small"])[2] is None


def test_another_sites_task_page_does_not_exist_for_staff(live, page, refunds):
    log_in(page, "nina", PASSWORD)
    south_task, _, _ = open_task(live, refunds["south"])
    response = page.goto(f"/tasks/{south_task}")
    assert response.status == 404
    assert "PA-S1" not in page.content()
    response = page.goto("/admin/incidents")
    assert response.status == 403


def test_group_tasks_come_a_hundred_to_a_page_each_task_once(live, page, refunds):
    from runner.services import deployments
    from tests.security.bpmn import user_task_process

    def setup():
        deployments.deploy({"pager.bpmn": user_task_process("pager", candidateGroups="pager_group")},
                           name="pager", actor=SETUP)
        for index in range(105):
            instances.start_instance("pager", "NORTH", {}, actor=SETUP, business_key=f"PG-{index:03d}")
    live.call(setup)
    add_user(live, "paula", "paula-pw", sites=["NORTH"], groups=["pager_group"])
    log_in(page, "paula", "paula-pw")
    seen = []
    engine = live.call(lambda: db.engine)
    listen = lambda *args: seen.append(args[2])  # noqa: E731  (before_cursor_execute: the statement)
    event.listen(engine, "before_cursor_execute", listen)
    try:
        page.goto("/tasks/group?process=pager")
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    # a page of 100 tasks in a few statements: the candidates of all of them in one, not one per row
    assert len([s for s in seen if "FROM task_candidates" in s and "IN (" in s]) <= 3 and len(seen) < 20, seen
    first = business_keys(page)
    assert len(first) == 100
    expect(page.locator("#page-rows")).to_have_text("Tasks 1 to 100")
    expect(page.locator("#page-previous")).to_have_count(0)
    expect(page.locator(".lanes-nav .count").nth(1)).to_have_text("105")
    page.click("#page-next")
    expect(page).to_have_url(re.compile(r"/tasks/group\?.*page=2"))
    assert "process=pager" in page.url  # the filters go along
    second = business_keys(page)
    expect(page.locator("#page-rows")).to_have_text("Tasks 101 to 105")
    expect(page.locator("#page-next")).to_have_count(0)
    assert sorted(first + second) == [f"PG-{index:03d}" for index in range(105)]  # each once
    page.click("#page-previous")
    assert business_keys(page) == first
    page.goto("/tasks/group?page=9")  # past the end
    expect(page.locator("#task-list-empty")).to_contain_text("No tasks on this page")
    page.goto("/tasks/group?page=abc")  # not a number: the first page
    assert business_keys(page) == first
