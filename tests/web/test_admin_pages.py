"""Issue 4, admin: deploy a new version, compare versions, inspect, suspend, resume and terminate instances, retry an incident."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from runner.models import Job, db
from runner.services import deployments, incidents, instances, jobs, tasks
from runner.services.tasks import TaskFilter
from tests.helpers import PROCESSES, folder_files

from .conftest import SETUP, add_user, deploy_refund, log_in, run_jobs, sandbox_registry
from .layout_checks import box, check_level_with_row, check_pan_and_zoom, check_readable_diagram, inside

pytestmark = pytest.mark.sqlite_only

PASSWORD = "admin-password"
PAYOUT = Path(__file__).resolve().parents[1] / "fixtures" / "web" / "refund_payout.bpmn"   # with a diagram layout


def start(live, key, business_key, **variables):
    def run():
        instance, _ = instances.start_instance(key, "NORTH", variables, actor=SETUP, business_key=business_key)
        return instance.id
    return live.call(run)


def approve_first(live, instance_id):
    """Complete the instance's first approval through the task service (as the admin would)."""
    def run():
        [task] = tasks.list_tasks(TaskFilter(instance_id=instance_id), SETUP)
        tasks.complete_task(task.id, {"decision": "approve", "comment": "ok"}, actor=SETUP)
        return task.element_id
    return live.call(run)


def instance_of(live, instance_id):
    def run():
        instance = instances.get_instance(instance_id, SETUP)
        return {"state": instance.state, "activities": list(instance.activities), "version": instance.definition.version}
    return live.call(run)


def open_incidents(live):
    return live.call(lambda: [(i.id, i.instance_id, i.element_id)
                              for i in incidents.list_incidents(SETUP, state="open")])


@pytest.fixture(scope="module")
def admin(live):
    add_user(live, "ada", PASSWORD, roles=["admin"])
    deploy_refund(live)
    return "ada"


@pytest.fixture
def refund_incident(live, admin):
    """A refund_payout instance whose billing call always fails: retries run out, an incident opens."""
    live.call(deployments.deploy, {PAYOUT.name: PAYOUT.read_bytes()}, name="refund_payout", actor=SETUP)
    instance_id = start(live, "refund_payout", "PAY-1", patient_account="PA-77", amount=120)
    failing = sandbox_registry(live)
    failing.adapter("billing").fail_next("issue_refund", times=1000)
    deadline = time.monotonic() + 10
    while not open_incidents(live):
        assert time.monotonic() < deadline, "no incident opened"
        run_jobs(live, failing)      # R3/PT0.2S: three retries 0.2 s apart
        time.sleep(0.1)
    return instance_id


def test_admin_uploads_a_new_version_and_compares_it(live, page, admin, tmp_path, screenshots):
    running = start(live, "patient_refund", "PA-A1", amount=1800, reason="overpayment", patient_account="PA-A1")
    log_in(page, admin, PASSWORD)
    page.goto("/admin/deployments")
    before = page.locator("#versions tr[data-process=patient_refund]").count()
    assert before >= 1

    files = folder_files(PROCESSES / "patient_refund")
    bpmn_name = next(name for name in files if name.endswith(".bpmn"))
    changed = files[bpmn_name].decode().replace('name="Approve refund"', 'name="Approve patient refund"')
    assert changed != files[bpmn_name].decode()
    for name, content in files.items():
        (tmp_path / name).write_bytes(changed.encode() if name == bpmn_name else content)
    page.set_input_files("#files", [str(tmp_path / name) for name in files])
    page.fill("#name", "refund approval renamed")
    page.click("#deploy")
    expect(page.locator(".flash.info")).to_contain_text(f"patient_refund v{before + 1}")

    versions = page.locator("#versions tr[data-process=patient_refund]")
    expect(versions).to_have_count(before + 1)
    assert versions.evaluate_all("rows => rows.map(r => Number(r.dataset.version))") == list(range(before + 1, 0, -1))
    # the running instance stays on its version, and the page counts it there
    assert instance_of(live, running)["version"] == before
    old_row = page.locator(f"#versions tr[data-process=patient_refund][data-version='{before}']")
    expect(old_row.locator("[data-count=running]")).to_have_text(re.compile(r"[1-9]"))

    # uploading the same files again deploys nothing
    page.set_input_files("#files", [str(tmp_path / name) for name in files])
    page.click("#deploy")
    expect(page.locator(".flash.info")).to_contain_text("Nothing new")
    expect(versions).to_have_count(before + 1)

    # the diff of the two versions shows the renamed task
    versions.first.get_by_role("link", name=re.compile("diff with")).click()
    diff = page.locator(f"pre.diff[data-diff-file='{bpmn_name}']")
    expect(diff.locator(".del")).to_contain_text(['name="Approve refund"'])
    expect(diff.locator(".add")).to_contain_text(['name="Approve patient refund"'])

    # the version's process page: its diagram readable from the start of the process, and movable
    page.goto(f"/admin/processes/patient_refund?version={before + 1}")
    diagram = page.locator("#process-diagram")
    check_readable_diagram(diagram, ["refund_requested"])   # the start event
    page.screenshot(path=str(screenshots / "process-page.png"), full_page=True)
    check_pan_and_zoom(page, diagram)

    # which instances run on which version
    page.goto(f"/admin/instances?process=patient_refund&version={before}&state=running")
    expect(page.locator(f"#instance-list tr[data-instance-id='{running}']")).to_have_count(1)
    page.goto(f"/admin/instances?process=patient_refund&version={before + 1}")
    expect(page.locator(f"#instance-list tr[data-instance-id='{running}']")).to_have_count(0)


def test_admin_inspects_suspends_resumes_and_terminates_instances(live, page, admin, screenshots):
    moving = start(live, "patient_refund", "PA-B1", amount=1800, reason="overpayment", patient_account="PA-B1")
    doomed = start(live, "patient_refund", "PA-B2", amount=300, reason="overpayment", patient_account="PA-B2")
    run_jobs(live)
    first = approve_first(live, moving)
    run_jobs(live)
    waiting = instance_of(live, moving)["activities"]
    assert waiting and first not in waiting

    log_in(page, admin, PASSWORD)
    page.goto("/admin/instances")
    page.select_option("#f-process", "patient_refund")
    page.fill("#f-bk", "PA-B1")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#instance-list tbody tr")).to_have_count(1)
    # where it waits, by the element's name (its id the tooltip)
    waits = page.locator("#instance-list tbody tr .waiting-at .element")
    expect(waits).to_have_text(["Second approval"])
    expect(waits).to_have_attribute("title", "second_approval")
    page.locator("#instance-list tbody tr a").first.click()
    expect(page).to_have_url(re.compile(rf"/admin/instances/{moving}$"))

    diagram = page.locator("#instance-diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")
    assert diagram.locator(".djs-element").count() > 10
    for element in waiting:
        expect(diagram.locator(f".djs-element.lanes-current[data-element-id='{element}']")).to_have_count(1)
    expect(diagram.locator(f".djs-element.lanes-completed[data-element-id='{first}']")).to_have_count(1)
    for element in ("refund_requested", "decide_approval"):   # pruned from the stored state, still marked
        expect(diagram.locator(f".djs-element.lanes-completed[data-element-id='{element}']")).to_have_count(1)
    expect(diagram.locator(".bjs-powered-by")).to_be_visible()
    check_readable_diagram(diagram, waiting)
    assert waiting == ["second_approval"]
    expect(page.locator("#waiting-at .element")).to_have_text(["Second approval"])
    expect(page.locator("#waiting-at .element")).to_have_attribute("title", "second_approval")
    expect(page.locator("#waiting-at .element-id")).to_have_text(["second_approval"])
    expect(page.locator("#variables")).to_contain_text('"decision": "approve"')
    expect(page.locator("#history tr[data-action='task.completed']")).to_have_count(1)
    expect(page.locator("#history tr[data-action='instance.started']")).to_have_count(1)
    page.screenshot(path=str(screenshots / "instance-page.png"), full_page=True)

    page.goto(f"/admin/instances/{doomed}")
    page.fill("#instance-actions input[name=reason]", "waiting for the patient's bank details")
    page.click("#suspend")
    expect(page.locator("#instance-state")).to_have_text("suspended")
    assert instance_of(live, doomed)["state"] == "suspended"
    page.click("#resume")
    expect(page.locator("#instance-state")).to_have_text("running")
    expect(page.locator("#history tr[data-action='instance.suspended']")).to_contain_text("bank details")
    expect(page.locator("#history tr[data-action='instance.resumed']")).to_have_count(1)
    page.fill("#instance-actions input[name=reason]", "duplicate request")
    page.click("#terminate")
    expect(page.locator("#instance-state")).to_have_text("terminated")
    expect(page.locator("#history tr[data-action='instance.terminated']")).to_contain_text("duplicate request")
    assert instance_of(live, doomed)["state"] == "terminated"
    assert live.call(lambda: tasks.open_tasks(doomed)) == []


# what a remote's failure can leave as a job's last error: long words (a URL, a JSON body) that do not wrap
LONG_ERROR = ("billing.issue_refund: TransientError: POST https://billing.hospital.example/api/v2/refunds/"
              "PA-77/c0ffee00-1234-5678-9abc-def012345678?idempotency_key=9f86d081884c7d659a2feaa0c55ad015 "
              "answered 503: " + '{"error":"upstream_unavailable","detail":"' + "x" * 300 + '"}')


def set_last_error(live, instance_id, error):
    """Give the instance's job a long last error (as a remote's failure would), straight in the table."""
    def run():
        for job in db.session.scalars(db.select(Job).where(Job.instance_id == instance_id)):
            job.last_error = error
        db.session.commit()
    live.call(run)


def test_admin_retries_an_incident(live, page, admin, refund_incident, screenshots):
    [(incident_id, instance_id, element_id)] = open_incidents(live)
    assert (instance_id, element_id) == (refund_incident, "issue_refund")
    set_last_error(live, instance_id, LONG_ERROR)

    log_in(page, admin, PASSWORD)
    page.goto("/admin/incidents")
    row = page.locator(f"#incident-list tr[data-incident-id='{incident_id}']")
    expect(row.locator(".cause")).to_contain_text("billing.issue_refund")
    expect(row.locator(".element[data-element-id='issue_refund']")).to_have_text("Issue refund")  # its name

    # its instance page marks the failed element, where the token waits: one badge says both, readable
    page.goto(f"/admin/instances/{instance_id}")
    diagram = page.locator("#instance-diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")
    failed = diagram.locator(".djs-element.lanes-failed[data-element-id='issue_refund']")
    expect(failed).to_have_count(1)
    assert failed.locator(".djs-visual > :first-child").evaluate("e => getComputedStyle(e).stroke") == "rgb(198, 40, 40)"
    badges = diagram.locator(".djs-overlays[data-container-id='issue_refund'] .lanes-badge")
    expect(badges).to_have_count(1)
    expect(badges).to_have_text("now · incident")
    expect(badges).to_have_class(re.compile(r"\blanes-badge-failed\b"))
    drawn = diagram.locator(".lanes-badge").evaluate_all("""badges => badges.map(b => {
        const box = b.getBoundingClientRect();
        const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return {box: [box.left, box.top, box.right, box.bottom], onTop: hit !== null && b.contains(hit)};
    })""")
    assert drawn and all(badge["onTop"] for badge in drawn), drawn
    for i, a in enumerate(drawn):    # no badge hides another
        for b in drawn[i + 1:]:
            (l1, t1, r1, b1), (l2, t2, r2, b2) = a["box"], b["box"]
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, (a, b)
    expect(page.locator("#instance-incidents")).to_contain_text("billing.issue_refund")
    check_readable_diagram(diagram, ["issue_refund"])
    diagram.screenshot(path=str(screenshots / "instance-incident.png"))

    # elements by name: the incident's, the job's, where the token waits
    incident_row = page.locator(f"#instance-incidents tr[data-incident-id='{incident_id}']")
    expect(incident_row.locator(".element")).to_have_text("Issue refund")
    expect(incident_row.locator(".element")).to_have_attribute("title", "issue_refund")
    expect(page.locator("#waiting-at .element")).to_have_text(["Issue refund"])
    check_level_with_row(incident_row, "Retry")
    # the job's last error stays in its table, and the table in its column (not over the Variables)
    jobs_table = page.locator("#instance-jobs")
    expect(jobs_table.locator(".element")).to_have_text(["Issue refund"])
    error = jobs_table.locator("td.last-error .clamp")
    expect(error).to_have_text(LONG_ERROR)
    expect(error).to_have_attribute("title", LONG_ERROR)    # the full text on hover
    column = box(page.locator("section", has=jobs_table))
    assert inside(box(jobs_table.locator("td.last-error")), box(jobs_table))
    assert inside(box(jobs_table), column), (box(jobs_table), column)
    assert box(jobs_table)["x"] + box(jobs_table)["width"] <= box(page.locator("#variables"))["x"]
    page.screenshot(path=str(screenshots / "instance-incident-page.png"), full_page=True)
    clamped = box(error)["height"]
    error.click()    # expands to the full text, still within the table
    expect(error).to_be_focused()
    assert box(error)["height"] > clamped
    assert error.evaluate("e => e.scrollHeight <= e.clientHeight + 1")
    assert inside(box(jobs_table.locator("td.last-error")), box(jobs_table))
    assert inside(box(jobs_table), box(page.locator("section", has=jobs_table)))
    jobs_table.screenshot(path=str(screenshots / "instance-job-error-expanded.png"))

    page.goto("/admin/incidents")
    check_level_with_row(row, "Retry")
    page.screenshot(path=str(screenshots / "incidents.png"))
    row.get_by_role("button", name="Retry").click()
    expect(page.locator(".flash.info")).to_contain_text(f"Incident {incident_id} is retried")
    expect(page.locator("#no-incidents")).to_be_visible()
    assert open_incidents(live) == []
    [job] = live.call(lambda: [(j.state, j.attempts) for j in jobs.list_jobs(instance_id=instance_id)])
    assert job == ("ready", 0)

    run_jobs(live)   # billing works again: the retried job completes the instance
    assert instance_of(live, instance_id)["state"] == "completed"
    page.goto("/admin/incidents?state=resolved")
    expect(page.locator(f"#incident-list tr[data-incident-id='{incident_id}']")).to_contain_text("ada")
