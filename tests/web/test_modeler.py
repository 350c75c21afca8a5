"""Issue 5, browser half: an analyst edits the refund workspace in the bpmn.io editors, tries the rules,
validates and deploys; a broken draft shows its problems per element and is not deployed."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from runner.services import decisions, deployments, instances, process_views, tasks, workspaces
from runner.services.tasks import TaskFilter

from .conftest import SETUP, add_user, deploy_refund, log_in, run_jobs

pytestmark = pytest.mark.sqlite_only

PASSWORD = "analyst-password"
WORKSPACE = "/modeler/patient_refund"


@pytest.fixture(scope="module")
def analyst(live):
    add_user(live, "ana", PASSWORD, roles=["analyst"])
    add_user(live, "stan", PASSWORD, roles=["staff"], sites=["WEST"], groups=["west_billing"])
    deploy_refund(live)
    return "ana"


def start_refund(live, site, business_key, amount=300):
    """Start a refund and run its service tasks (eligibility check) on the sandbox adapters."""
    def run():
        instance, _ = instances.start_instance("patient_refund", site, {
            "amount": amount, "reason": "overpayment", "patient_account": business_key}, actor=SETUP,
            business_key=business_key)
        return instance.id
    instance_id = live.call(run)
    run_jobs(live)
    return instance_id


def first_approval(live, instance_id):
    """(version, candidate groups of the open approval task) of an instance."""
    def run():
        [task] = tasks.list_tasks(TaskFilter(instance_id=instance_id), SETUP)
        assert task.element_id == "first_approval"
        return instances.get_instance(instance_id, SETUP).definition.version, sorted(task.candidate_groups)
    return live.call(run)


def versions(live):
    return [row.definition.version for row in live.call(process_views.process_versions, "patient_refund")]


def rendered(page):
    expect(page.locator("#modeler-canvas")).to_have_attribute("data-rendered", "true")


def assert_watermark_visible(page, selector):
    """The bpmn.io watermark is drawn, fully inside the editor's canvas and on top at its centre: its licence
    requires it to stay visible, and to_be_visible() alone ignores clipping by a scrolling container."""
    mark = page.locator(selector)
    expect(mark).to_be_visible()
    seen = page.evaluate("""(selector) => {
        const mark = document.querySelector(selector);
        const box = mark.getBoundingClientRect();
        const canvas = document.getElementById('modeler-canvas').getBoundingClientRect();
        const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return {box: [box.left, box.top, box.right, box.bottom], canvas: [canvas.left, canvas.top, canvas.right, canvas.bottom],
                inside: box.width > 0 && box.height > 0 && box.left >= canvas.left && box.top >= canvas.top &&
                        box.right <= canvas.right && box.bottom <= canvas.bottom && box.bottom <= window.innerHeight,
                hit: hit === null ? null : hit.outerHTML.slice(0, 80), onTop: hit !== null && mark.contains(hit)};
    }""", selector)
    assert seen["inside"], f"the watermark {seen['box']} is not inside the canvas {seen['canvas']}"
    assert seen["onTop"], f"the watermark's centre shows {seen['hit']}, not the watermark"


def assert_table_scrolls_inside_canvas(page):
    """The decision table's view fits the canvas, and its last column scrolls into sight inside it."""
    seen = page.evaluate("""() => {
        const canvas = document.getElementById('modeler-canvas');
        const outer = canvas.getBoundingClientRect();
        const view = document.querySelector('#modeler-canvas .dmn-decision-table-container').getBoundingClientRect();
        const cells = document.querySelectorAll('#modeler-canvas .tjs-table > tbody > tr:first-child > td');
        const last = cells[cells.length - 1];
        for (let node = last.parentElement; node && node !== canvas.parentElement; node = node.parentElement) {
            node.scrollLeft = node.scrollWidth;
        }
        const box = last.getBoundingClientRect();
        const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return {fits: view.left >= outer.left && view.top >= outer.top && view.right <= outer.right && view.bottom <= outer.bottom,
                canvasScrolls: canvas.scrollWidth > canvas.clientWidth || canvas.scrollHeight > canvas.clientHeight,
                lastInside: box.left >= outer.left && box.right <= outer.right, lastOnTop: hit !== null && last.contains(hit)};
    }""")
    assert seen == {"fits": True, "canvasScrolls": False, "lastInside": True, "lastOnTop": True}, seen
    page.evaluate("""() => document.querySelectorAll('#modeler-canvas *').forEach(n => { n.scrollLeft = 0; })""")


def type_into_cell(page, cell, text):
    """dmn-js cells are content-editable: click one, then type."""
    cell.click()
    page.keyboard.type(text)


def test_analyst_adds_a_site_row_tries_it_validates_and_deploys_version_2(live, page, analyst, screenshots):
    old = start_refund(live, "WEST", "PA-W1")
    assert first_approval(live, old) == (1, ["billing_office"])   # no WEST row yet: the enterprise default

    log_in(page, analyst, PASSWORD)
    page.get_by_role("link", name="Modeler").click()
    page.locator("#workspaces tr[data-workspace=patient_refund] a").first.click()

    # the BPMN diagram in the modeler, with the Camunda 7 properties panel
    rendered(page)
    expect(page.locator("#modeler")).to_have_attribute("data-kind", "bpmn")
    assert page.locator("#modeler-canvas .djs-element").count() > 20
    page.locator(".djs-element[data-element-id=first_approval]").click()
    expect(page.locator("#modeler-properties .bio-properties-panel-header")).to_contain_text("Approve refund")
    page.locator("[data-group-id=group-CamundaPlatform__UserAssignment] .bio-properties-panel-group-header").click()
    expect(page.locator("#bio-properties-panel-candidateGroups")).to_have_value("${approval.approver_group}")
    assert_watermark_visible(page, "#modeler-canvas .bjs-powered-by")
    page.screenshot(path=str(screenshots / "modeler-bpmn.png"))

    # the site rules in the dmn-js decision table editor: a WEST row above the enterprise defaults
    page.locator("#modeler-files a[data-file='refund_approval.dmn']").click()
    rendered(page)
    rows = page.locator(".tjs-table > tbody > tr")
    expect(rows).to_have_count(9)
    assert_watermark_visible(page, "#modeler-canvas .bjs-powered-by")
    assert_table_scrolls_inside_canvas(page)
    clinic = rows.filter(has_text="CLINIC-12")
    clinic.locator("td.input-cell").first.click(button="right")
    page.locator(".context-menu .context-menu-entry-add-rule-below").click()
    expect(rows).to_have_count(10)
    west = rows.nth(7)
    type_into_cell(page, west.locator("td.input-cell").nth(0), '"WEST"')
    type_into_cell(page, west.locator("td.output-cell").nth(0), '"west_billing"')
    type_into_cell(page, west.locator("td.output-cell").nth(1), "false")
    type_into_cell(page, west.locator("td.output-cell").nth(2), '""')
    expect(page.locator("#modeler")).to_have_attribute("data-dirty", "true")

    # try the rules: the draft is saved, then evaluated; the matching rows are highlighted
    page.fill("#try-rules input[name=site]", "WEST")
    page.fill("#try-rules input[name=amount]", "300")
    page.fill("#try-rules input[name=reason]", "overpayment")
    page.click("#try-run")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "tried")
    expect(page.locator("#try-result")).to_have_attribute("data-matching", "8,9,10")
    expect(page.locator("#try-result")).to_have_attribute("data-selected", "8")
    expect(page.locator("#try-output")).to_contain_text('"approver_group": "west_billing"')
    expect(page.locator(".tjs-table tr.lanes-rule-selected")).to_have_count(1)
    expect(page.locator(".tjs-table tr.lanes-rule-selected td.input-cell").first).to_contain_text('"WEST"')
    expect(page.locator(".tjs-table tr.lanes-rule-matched")).to_have_count(3)
    expect(page.locator("#modeler-files a[data-file='refund_approval.dmn']")).to_have_class(re.compile(r"\bdraft\b"))
    assert_watermark_visible(page, "#modeler-canvas .bjs-powered-by")
    page.screenshot(path=str(screenshots / "modeler-dmn-tried.png"))

    # a saved draft changes nothing deployed: the deployed table and new instances still use version 1
    deployed = live.call(decisions.evaluate_decision, "refund_approval", {"site": "WEST", "amount": 300,
                                                                          "reason": "overpayment"}, SETUP)
    assert deployed["result"]["approver_group"] == "billing_office"
    assert first_approval(live, start_refund(live, "WEST", "PA-W2")) == (1, ["billing_office"])

    page.click("#modeler-validate")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "valid")
    expect(page.locator("#modeler-problems")).to_be_hidden()

    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "deployed")
    expect(page.locator("#modeler-status")).to_contain_text("patient_refund v2")
    expect(page.locator("#modeler-files a.draft")).to_have_count(0)
    assert versions(live) == [2, 1]

    # new instances at WEST follow the new row; the older ones stay on version 1 and its table
    new = start_refund(live, "WEST", "PA-W3")
    assert first_approval(live, new) == (2, ["west_billing"])
    assert first_approval(live, old) == (1, ["billing_office"])
    v1 = live.call(lambda: {f.filename: f.content for f in
                            process_views.get_definition("patient_refund", 1).deployment.files})
    assert b"WEST" not in v1["refund_approval.dmn"], "a deployed version's files never change"

    # the form editor opens the workspace's forms
    page.locator("#modeler-files a[data-file='refund_first_approval.form']").click()
    rendered(page)
    expect(page.locator("#modeler-canvas .fjs-form-field-textarea")).to_have_count(1)
    assert_watermark_visible(page, "#modeler-canvas .fjs-powered-by")
    page.screenshot(path=str(screenshots / "modeler-form.png"))


def test_a_broken_draft_shows_both_problems_on_their_elements_and_is_not_deployed(live, page, analyst, screenshots):
    before = versions(live)
    log_in(page, analyst, PASSWORD)
    page.goto(WORKSPACE)
    rendered(page)

    # break it in the properties panel: a form that does not exist, a condition that does not parse
    page.locator(".djs-element[data-element-id=first_approval]").click()
    page.locator("[data-group-id=group-CamundaPlatform__Form] .bio-properties-panel-group-header").click()
    expect(page.locator("#bio-properties-panel-formRef")).to_have_value("refund_first_approval")
    page.fill("#bio-properties-panel-formRef", "refund_first_aproval")
    page.locator(".djs-element[data-element-id=first_rejected_label]").click()
    page.locator("[data-group-id=group-CamundaPlatform__Condition] .bio-properties-panel-group-header").click()
    page.fill("#bio-properties-panel-conditionExpression", "${decision == }")
    expect(page.locator("#modeler")).to_have_attribute("data-dirty", "true")

    page.click("#modeler-validate")     # saves the draft, then validates it
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "invalid")
    problems = page.locator("#modeler-problems button.problem")
    form_problem = problems.and_(page.locator("[data-element-id=first_approval]"))
    condition_problem = problems.and_(page.locator("[data-element-id=first_rejected]"))
    expect(form_problem).to_contain_text("refund_first_aproval")
    expect(condition_problem).to_contain_text(re.compile("condition", re.I))
    expect(page.locator(".djs-element.lanes-problem")).to_have_count(2)

    # clicking a problem selects its element in the diagram and shows it in the properties panel
    form_problem.click()
    expect(page.locator(".djs-element.selected[data-element-id=first_approval]")).to_have_count(1)
    expect(page.locator("#modeler-properties .bio-properties-panel-header")).to_contain_text("Approve refund")
    condition_problem.click()
    expect(page.locator(".djs-element.selected[data-element-id=first_rejected]")).to_have_count(1)
    expect(page.locator("#modeler-properties .bio-properties-panel-header")).to_contain_text("Rejected")
    page.screenshot(path=str(screenshots / "modeler-problems.png"))

    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "refused")
    expect(form_problem).to_be_visible()
    expect(condition_problem).to_be_visible()
    assert versions(live) == before

    # the draft is kept: a reload shows it; discarding it brings the deployed files back
    page.reload()
    rendered(page)
    expect(page.locator("#modeler-files a[data-file='patient_refund.bpmn']")).to_have_class(re.compile(r"\bdraft\b"))
    page.locator(".djs-element[data-element-id=first_approval]").click()
    page.locator("[data-group-id=group-CamundaPlatform__Form] .bio-properties-panel-group-header").click()
    expect(page.locator("#bio-properties-panel-formRef")).to_have_value("refund_first_aproval")
    page.click("#modeler-discard")
    expect(page.locator(".flash.info")).to_contain_text("Discarded 1 draft file")
    expect(page.locator("#modeler-files a.draft")).to_have_count(0)
    assert versions(live) == before


def test_a_problem_in_another_file_opens_that_file_with_its_row_marked(live, page, analyst):
    def break_the_table():
        files = {f.filename: f.content for f in workspaces.workspace_files("patient_refund", SETUP)}
        broken = files["refund_approval.dmn"].replace(b'<text>"east_billing"</text>', b'<text>"east_billing</text>')
        workspaces.save_draft("patient_refund", "refund_approval.dmn", broken, SETUP)
    live.call(break_the_table)

    log_in(page, analyst, PASSWORD)
    page.goto(WORKSPACE)
    rendered(page)
    page.click("#modeler-validate")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "invalid")
    page.locator("#modeler-problems button.problem[data-element-id=rule_east_small]").click()
    expect(page).to_have_url(re.compile(r"file=refund_approval\.dmn&validate=1&select=rule_east_small"))
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "invalid")
    expect(page.locator(".tjs-table tr.lanes-problem")).to_contain_text('"east_billing')
    expect(page.locator("#modeler")).to_have_attribute("data-selected", "rule_east_small")
    assert live.call(workspaces.discard_drafts, "patient_refund", SETUP) == 1


def test_the_modeler_is_for_analysts_and_its_json_endpoints_need_the_csrf_token(live, page, analyst):
    log_in(page, "stan", PASSWORD)
    expect(page.get_by_role("link", name="Modeler")).to_have_count(0)
    assert page.goto(WORKSPACE).status == 403
    page.goto("/")
    staff_token = page.locator("header input[name=csrf_token]").get_attribute("value")
    assert page.request.post(f"{WORKSPACE}/validate", headers={"X-CSRFToken": staff_token}).status == 403

    page.context.clear_cookies()
    log_in(page, analyst, PASSWORD)
    page.goto(WORKSPACE)
    token = page.locator("#modeler").get_attribute("data-csrf")
    assert page.request.post(f"{WORKSPACE}/validate").status == 400          # no CSRF token
    answer = page.request.post(f"{WORKSPACE}/validate", headers={"X-CSRFToken": token})
    assert answer.status == 200 and answer.json()["valid"] is True
    tried = page.request.post(f"{WORKSPACE}/decisions/no_such_table/evaluate", headers={"X-CSRFToken": token},
                              data={"variables": {}})
    assert tried.status == 404 and "no_such_table" in tried.json()["detail"]
    assert page.goto(f"{WORKSPACE}?file=nope.bpmn").status == 404


def test_the_workspace_follows_a_version_deployed_under_another_name_and_refuses_a_stale_draft(live, page, analyst):
    def latest_files():
        return {f.filename: f.content for f in live.call(workspaces.get_workspace, "patient_refund", SETUP).deployment.files}

    def deploy_changed(filename, old, new, name):
        files = latest_files()
        assert old in files[filename]
        files[filename] = files[filename].replace(old, new)
        return live.call(lambda: deployments.deploy(files, name=name, actor=SETUP).definitions[0].version)

    # an admin uploads a version under a free-text deployment name: still one workspace, showing that version
    renamed = deploy_changed("patient_refund.bpmn", b'name="Approve refund"', b'name="Approve patient refund"',
                             "refund approval renamed")
    log_in(page, analyst, PASSWORD)
    page.get_by_role("link", name="Modeler").click()
    expect(page.locator("#workspaces tbody tr")).to_have_count(1)
    page.locator("#workspaces tr[data-workspace=patient_refund] a").first.click()
    rendered(page)
    expect(page.locator("#deployed-as")).to_contain_text(f"patient_refund v{renamed}")
    expect(page.locator("#deployed-as")).to_contain_text("refund approval renamed")
    page.locator(".djs-element[data-element-id=first_approval]").click()
    expect(page.locator("#modeler-properties .bio-properties-panel-header")).to_contain_text("Approve patient refund")
    expect(page.locator("#modeler-stale")).to_be_hidden()

    # the analyst starts a draft; meanwhile someone deploys another version by another route
    page.click("#modeler-save")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "saved")
    newer = deploy_changed("refund_approval.dmn", b'"finance_review"', b'"finance_reviewers"', "hotfix")
    assert newer == renamed + 1

    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "refused")
    expect(page.locator("#modeler-status")).to_contain_text(
        f"patient_refund version {newer} was deployed after your draft was started; review the changes")
    expect(page.locator("#modeler-stale")).to_be_visible()
    assert versions(live)[0] == newer, "nothing was deployed"

    # reopened, the page says so; once reviewed, the drafts are kept on top of it and deploy without reverting it
    page.reload()
    rendered(page)
    expect(page.locator("#stale-versions")).to_have_text(f"patient_refund version {newer}")
    page.click("#modeler-rebase")
    expect(page.locator(".flash.info")).to_contain_text(f"patient_refund v{newer}")
    expect(page.locator("#modeler-stale")).to_be_hidden()
    rendered(page)
    page.click("#modeler-deploy")
    expect(page.locator("#modeler-status")).to_have_attribute("data-state", "deployed")
    expect(page.locator("#modeler-files a.draft")).to_have_count(0)
    deployed = latest_files()
    assert b'"finance_reviewers"' in deployed["refund_approval.dmn"] and b"Approve patient refund" in deployed["patient_refund.bpmn"]
