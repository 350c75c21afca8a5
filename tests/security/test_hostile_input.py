"""Issue 8: hostile input over HTTP is refused with a clear problem+json and changes nothing."""
from __future__ import annotations

import io
import json

import pytest

from tests.helpers import PROCESSES, folder_files, upload

from .bpmn import condition_process, script_process

ROUTED = {"processKey": "routed", "site": "NORTH", "variables": {"group": "north_finance"}}
XML_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>'


def refund_files() -> dict[str, bytes]:
    return folder_files(PROCESSES / "patient_refund")


def assert_refused(response, status: int, *words: str) -> dict:
    """A clean problem+json refusal that says what is wrong and shows no internals."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "/work/", "site-packages", 'File "', "root:x:0"):
        assert leak not in text
    body = response.get_json()
    message = json.dumps(body).lower()
    for word in words:
        assert word.lower() in message, (word, body)
    return body


def assert_nothing_deployed(client):
    assert client.get("/api/v1/deployments").get_json() == []


def assert_no_instances(client):
    assert client.get("/api/v1/process-instances").get_json() == []


# --- XML -------------------------------------------------------------------------

def with_doctype(xml: bytes, doctype: bytes) -> bytes:
    return xml.replace(XML_HEAD, XML_HEAD + doctype, 1)


@pytest.mark.parametrize("doctype", [
    b'<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',                      # external entity (XXE)
    b'<!DOCTYPE d [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>',  # parameter entity
    b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',  # laughs
], ids=["xxe", "parameter-entity", "billion-laughs"])
def test_xml_with_a_doctype_is_refused(client, doctype):
    files = refund_files()
    files["patient_refund.bpmn"] = with_doctype(files["patient_refund.bpmn"], doctype).replace(
        b'name="Approve refund"', b'name="&xxe;"' if b"xxe" in doctype else b'name="Approve refund"')
    body = assert_refused(upload(client, files), 422, "DOCTYPE")
    assert body["problems"][0]["file"] == "patient_refund.bpmn"
    files = refund_files()
    files["refund_approval.dmn"] = with_doctype(files["refund_approval.dmn"], doctype)
    assert_refused(upload(client, files), 422, "refund_approval.dmn", "DOCTYPE")
    assert_nothing_deployed(client)


def test_xml_nested_too_deep_is_refused(client):
    files = refund_files()
    files["patient_refund.bpmn"] = files["patient_refund.bpmn"].replace(
        b"</bpmn:definitions>", b"<x>" * 5000 + b"</x>" * 5000 + b"</bpmn:definitions>")
    assert_refused(upload(client, files), 422, "patient_refund.bpmn", "depth")
    assert_nothing_deployed(client)


# --- sizes and encodings ---------------------------------------------------------

def test_a_request_over_the_body_limit_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    files = {**refund_files(), "padding.bpmn": b" " * (1024 * 1024 + 1)}
    assert_refused(upload(client, files), 413, "too large")
    assert_nothing_deployed(client)


def test_a_file_over_the_per_file_limit_is_422_naming_it(client):
    files = {**refund_files(), "huge.bpmn": XML_HEAD + b" " * (5 * 1024 * 1024)}
    body = assert_refused(upload(client, files), 422, "huge.bpmn", "larger than 5 MiB")
    assert body["problems"] == [{"file": "huge.bpmn", "element_id": None, "message": "file too large"}]
    assert_nothing_deployed(client)


def test_a_json_body_over_its_limit_is_413(client, start_routed):
    body = {**ROUTED, "variables": {**ROUTED["variables"], "note": "x" * (1024 * 1024)}}
    assert_refused(client.post("/api/v1/process-instances", json=body), 413)
    assert_no_instances(client)


@pytest.mark.parametrize("name, encode", [
    ("patient_refund.bpmn", lambda text: text.replace("Approve refund", "Approuvé").encode("latin-1")),
    ("patient_refund.bpmn", lambda text: text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")),
    ("refund_first_approval.form", lambda text: text.replace("Decision", "Décision").encode("cp1252")),
], ids=["latin-1 bpmn", "utf-16 bpmn", "cp1252 form"])
def test_files_that_are_not_utf8_are_refused(client, name, encode):
    files = refund_files()
    files[name] = encode(files[name].decode())
    body = assert_refused(upload(client, files), 422, "not UTF-8")
    assert name in [p["file"] for p in body["problems"]]
    assert_nothing_deployed(client)


def test_a_json_body_that_is_not_utf8_is_refused(client, start_routed):
    raw = json.dumps({**ROUTED, "businessKey": "trop-perçu"}, ensure_ascii=False).encode("latin-1")
    assert_refused(client.post("/api/v1/process-instances", data=raw, content_type="application/json"),
                   422, "not UTF-8")
    assert_no_instances(client)


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32", "utf-32-le"])
def test_a_json_body_in_utf16_or_utf32_is_refused_and_cannot_hide_its_depth(client, start_routed, codec):
    """json.loads reads UTF-16/32 too; there, a non-ASCII character's NUL bytes hid the brackets after it
    from the depth count, and 900 levels were stored (the instance then crashed every step)."""
    deep = {**ROUTED, "variables": {**ROUTED["variables"], "a": "\u2200",
                                    "deep": json.loads("[" * 900 + "]" * 900), "b": "\u2200"}}
    raw = json.dumps(deep, ensure_ascii=False).encode(codec)
    assert_refused(client.post("/api/v1/process-instances", data=raw, content_type="application/json"),
                   422, "not UTF-8")
    assert_no_instances(client)


# --- JSON nesting and volume -----------------------------------------------------

DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.mark.parametrize("payload", [DEEP_ARRAY, DEEP_OBJECT], ids=["arrays", "objects"])
def test_json_nested_10000_deep_is_refused_everywhere(client, start_routed, payload):
    instance_id, task_id = start_routed("NORTH", "north_finance")
    for path in ("/process-instances", f"/tasks/{task_id}/claim", f"/tasks/{task_id}/complete"):
        response = client.post(f"/api/v1{path}", data=payload, content_type="application/json")
        assert_refused(response, 422, "deeper than 64 levels")
    variables = b'{"processKey": "routed", "site": "NORTH", "variables": {"v": ' + payload + b"}}"
    assert_refused(client.post("/api/v1/process-instances", data=variables, content_type="application/json"), 422)

    files = refund_files()
    files["refund_first_approval.form"] = payload
    assert_refused(upload(client, files), 422, "refund_first_approval.form", "deeper than 64 levels")

    assert [i["id"] for i in client.get("/api/v1/process-instances").get_json()] == [instance_id]
    task = client.get(f"/api/v1/tasks/{task_id}").get_json()
    assert (task["state"], task["assignee"]) == ("open", None)


def test_huge_variables_are_refused(client, start_routed):
    body = {**ROUTED, "variables": {**ROUTED["variables"], "notes": ["n" * 1000] * 300}}
    assert_refused(client.post("/api/v1/process-instances", json=body), 422, "larger than 256 KiB")
    assert_no_instances(client)

    _, task_id = start_routed("NORTH", "north_finance")
    assert_refused(client.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {
        "decision": "approve", "comment": "c" * 300_000}}), 422, "form data are larger than 256 KiB")
    assert client.get(f"/api/v1/tasks/{task_id}").get_json()["state"] == "open"


# --- expressions and scripts -----------------------------------------------------

@pytest.mark.parametrize("condition, words", [
    ('${__import__("os").system("id")}', ["__import__"]),
    ("${().__class__.__bases__[0].__subclasses__()}", ["__class__"]),
    ("${amount.__class__}", ["__class__"]),
    ('${[c for c in ().__class__.__mro__]}', ["__class__"]),
    ("${open('/etc/passwd').read()}", ["'open' is not available"]),
    ("${getattr(amount, 'real')}", ["'getattr' is not available"]),
    ("${" + "+".join(["1"] * 30_000) + " > 0}", ["nested too deeply"]),
    ("${" + "not " * 30_000 + "true}", ["longer than 100,000"]),
], ids=["import", "subclasses", "dunder", "mro", "open", "getattr", "deep", "long"])
def test_dangerous_conditions_are_refused_at_deploy(client, condition, words):
    body = assert_refused(upload(client, {"gate.bpmn": condition_process("gate", condition)}), 422, *words)
    assert body["problems"][0]["element_id"] == "guarded"
    assert len(json.dumps(body)) < 5000  # the message quotes a shortened expression
    assert_nothing_deployed(client)


@pytest.mark.parametrize("script, words", [
    ("import os\nos.system('id')", ["imports are not allowed"]),
    ("x = ().__class__", ["__class__"]),
    ("def f():\n    return 1", ["function definitions are not allowed"]),
    ("with open('/etc/passwd') as f:\n    pass", ["'with' is not allowed"]),
], ids=["import", "dunder", "def", "with"])
def test_dangerous_scripts_are_refused_at_deploy(client, script, words):
    body = assert_refused(upload(client, {"calc.bpmn": script_process("scripted", script)}), 422, *words)
    assert body["problems"][0]["element_id"] == "calc"
    assert_nothing_deployed(client)


@pytest.mark.parametrize("script, words", [
    ("while True:\n    pass", ["longer than"]),
    ("total = 0\nfor i in range(10**6):\n    for j in range(10**6):\n        total += 1", ["longer than"]),
    ("f = lambda g: g(g)\nf(f)", ["recursion"]),
    ("x = '{0.__class__}'.format(1)", ["not allowed"]),
    ("big = 'a' * 9_000_000", ["MiB"]),
], ids=["endless-loop", "nested-loops", "recursion", "format-escape", "huge-value"])
def test_a_script_that_passes_the_static_check_but_misbehaves_fails_at_run_time(client, script, words):
    response = upload(client, {"calc.bpmn": script_process("scripted", script)})
    assert response.status_code == 201, response.get_json()

    refused = client.post("/api/v1/process-instances", json={"processKey": "scripted", "site": "NORTH"})
    body = assert_refused(refused, 422, *words)
    assert body["type"].endswith("/process-error")
    assert_no_instances(client)
    assert client.get("/api/v1/tasks").get_json() == []
    # the server is still up and answering
    assert client.get("/api/v1/process-definitions").status_code == 200


def test_an_endless_script_after_a_user_task_leaves_the_task_open(client):
    assert upload(client, {"calc.bpmn": script_process("scripted", "while True:\n    pass", wait_first=True)}
                  ).status_code == 201
    started = client.post("/api/v1/process-instances", json={"processKey": "scripted", "site": "NORTH"}).get_json()
    task_id = started["openTasks"][0]["id"]
    before = client.get(f"/api/v1/process-instances/{started['id']}").get_json()

    assert_refused(client.post(f"/api/v1/tasks/{task_id}/complete", json={"variables": {}}), 422, "longer than")
    assert client.get(f"/api/v1/process-instances/{started['id']}").get_json() == before
    assert client.get(f"/api/v1/tasks/{task_id}").get_json()["state"] == "open"
    actions = [e["action"] for e in client.get(f"/api/v1/process-instances/{started['id']}/audit").get_json()]
    assert actions == ["instance.started"]


def test_uploads_with_odd_names_or_shapes_are_refused(client):
    data = {"files": [(io.BytesIO(b"<x/>"), "notes.txt")]}
    response = client.post("/api/v1/deployments", data=data, content_type="multipart/form-data")
    assert_refused(response, 422, "unsupported file type")
    assert_refused(client.post("/api/v1/deployments", data={}, content_type="multipart/form-data"), 422, "files")
    assert_nothing_deployed(client)
