"""Camunda Forms: loading form-js schemas and validating submissions on the server."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.engine.forms import Form, FormDefinitionError, load_form, validate_submission

FORMS = Path(__file__).resolve().parents[2] / "forms"


def make_form(*components, form_id="test_form") -> Form:
    schema = {"id": form_id, "type": "default", "schemaVersion": 16, "components": list(components)}
    return load_form(json.dumps(schema), "test_form.form")


def first_approval() -> Form:
    return load_form((FORMS / "refund_first_approval.form").read_bytes(), "refund_first_approval.form")


# ------------------------------------------------------------ the shipped forms

@pytest.mark.parametrize("path", sorted(FORMS.glob("*.form")), ids=lambda p: p.name)
def test_every_shipped_form_loads_and_its_id_is_its_file_stem(path):
    form = load_form(path.read_bytes(), path.name)
    assert form.id == path.stem
    assert form.fields
    assert all(f.label for f in form.fields)
    ids = [c["id"] for c in form.schema["components"]]
    assert len(ids) == len(set(ids))


def test_first_approval_fields():
    form = first_approval()
    assert [f.key for f in form.fields] == ["decision", "approved_amount", "comment"]
    decision = form.field("decision")
    assert decision.required and decision.options == ["approve", "reject"]
    assert form.field("approved_amount").minimum == 0 and not form.field("approved_amount").required
    assert form.field("comment").max_length == 500 and form.field("comment").required


def test_first_approval_good_submission():
    clean, errors = validate_submission(first_approval(), {"decision": "approve", "approved_amount": "120.50",
                                                           "comment": "ok"})
    assert errors == {}
    assert clean == {"decision": "approve", "approved_amount": 120.5, "comment": "ok"}


def test_first_approval_optional_amount_is_simply_absent():
    clean, errors = validate_submission(first_approval(), {"decision": "reject", "comment": "duplicate"})
    assert errors == {} and clean == {"decision": "reject", "comment": "duplicate"}
    clean, errors = validate_submission(first_approval(), {"decision": "reject", "comment": "x",
                                                           "approved_amount": None})
    assert errors == {} and "approved_amount" not in clean


def test_first_approval_bad_submission():
    clean, errors = validate_submission(first_approval(), {"decision": "maybe", "approved_amount": -1,
                                                           "comment": "x" * 501})
    assert errors == {
        "decision": "Must be one of: approve, reject",
        "approved_amount": "Must be at least 0",
        "comment": "Must be at most 500 characters",
    }
    assert clean == {}


def test_first_approval_missing_required():
    _, errors = validate_submission(first_approval(), {})
    assert errors == {"decision": "Required", "comment": "Required"}
    _, errors = validate_submission(first_approval(), {"decision": "", "comment": ""})
    assert errors == {"decision": "Required", "comment": "Required"}


def test_second_approval_form():
    form = load_form((FORMS / "refund_second_approval.form").read_text(), "refund_second_approval.form")
    clean, errors = validate_submission(form, {"second_decision": "approve"})
    assert errors == {} and clean == {"second_decision": "approve"}
    _, errors = validate_submission(form, {"second_comment": "y" * 501})
    assert errors == {"second_decision": "Required", "second_comment": "Must be at most 500 characters"}


# ------------------------------------------------------------ unknown and protected keys

def test_unknown_keys_are_rejected():
    clean, errors = validate_submission(first_approval(), {"decision": "approve", "comment": "ok",
                                                           "approval": {"approver_group": "me"}, "amount": 1})
    assert errors == {"approval": "Unknown field", "amount": "Unknown field"}


def test_disabled_readonly_and_expression_fields_are_never_taken_from_a_submission():
    form = make_form(
        {"id": "F1", "type": "textfield", "key": "name", "label": "Name"},
        {"id": "F2", "type": "textfield", "key": "ref", "label": "Reference", "readonly": True,
         "validate": {"required": True}},
        {"id": "F3", "type": "number", "key": "total", "label": "Total", "disabled": True},
        {"id": "F4", "type": "expression", "key": "computed", "expression": "=1 + 1", "computeOn": "change"},
    )
    clean, errors = validate_submission(form, {"name": "A", "ref": "hacked", "total": 5, "computed": 9})
    assert errors == {}
    assert clean == {"name": "A"}


def test_submission_must_be_an_object():
    _, errors = validate_submission(first_approval(), ["decision"])
    assert errors


# ------------------------------------------------------------ each kind of field

def test_number_coercion_and_errors():
    form = make_form(
        {"id": "F1", "type": "number", "key": "count", "label": "Count", "decimalDigits": 0,
         "validate": {"min": 1, "max": 10}},
        {"id": "F2", "type": "number", "key": "price", "label": "Price", "decimalDigits": 2, "increment": "0.05"},
        {"id": "F3", "type": "number", "key": "code", "label": "Code", "serializeToString": True},
    )
    clean, errors = validate_submission(form, {"count": "3", "price": 2.15, "code": "0012"})
    assert errors == {}
    assert clean == {"count": 3, "price": 2.15, "code": "12"}
    assert isinstance(clean["count"], int)
    cases = [
        ({"count": "three"}, "count", "Must be a number"),
        ({"count": True}, "count", "Must be a number"),
        ({"count": "NaN"}, "count", "Must be a number"),
        ({"count": [1]}, "count", "Must be a number"),
        ({"count": 0}, "count", "Must be at least 1"),
        ({"count": 11}, "count", "Must be at most 10"),
        ({"count": 2.5}, "count", "Must be a whole number"),
        ({"price": "1.234"}, "price", "Must have at most 2 decimal digits"),
        ({"price": "1.23"}, "price", "Must be a multiple of 0.05"),
        ({"count": "1e400"}, "count", "Must be a smaller number"),
    ]
    for data, key, message in cases:
        _, errors = validate_submission(form, data)
        assert errors == {key: message}, data


def test_text_length_pattern_email_phone():
    form = make_form(
        {"id": "F1", "type": "textfield", "key": "code", "label": "Code",
         "validate": {"pattern": "^[A-Z]{3}$", "validationType": "custom"}},
        {"id": "F2", "type": "textfield", "key": "email", "label": "Email", "validate": {"validationType": "email"}},
        {"id": "F3", "type": "textfield", "key": "phone", "label": "Phone", "validate": {"validationType": "phone"}},
        {"id": "F4", "type": "textarea", "key": "note", "label": "Note", "validate": {"minLength": 3, "maxLength": 5}},
        {"id": "F5", "type": "filepicker", "key": "upload", "label": "Upload"},
    )
    good = {"code": "ABC", "email": "a.b@example.org", "phone": "+49 30 1234567", "note": "abcd",
            "upload": "files::F5"}
    clean, errors = validate_submission(form, good)
    assert errors == {} and clean == good
    _, errors = validate_submission(form, {"code": "abcd", "email": "nope@", "phone": "12", "note": "ab",
                                           "upload": 3})
    assert errors == {
        "code": "Must match pattern ^[A-Z]{3}$",
        "email": "Must be a valid email",
        "phone": errors["phone"],
        "note": "Must be at least 3 characters",
        "upload": "Must be text",
    }
    assert errors["phone"].startswith("Must be a valid phone number")
    _, errors = validate_submission(form, {"note": "abcdef", "code": 123})
    assert errors == {"note": "Must be at most 5 characters", "code": "Must be text"}


def test_checkbox():
    form = make_form({"id": "F1", "type": "checkbox", "key": "agree", "label": "Agree"},
                     {"id": "F2", "type": "checkbox", "key": "must", "label": "Must", "validate": {"required": True}})
    for raw, value in ((True, True), ("true", True), ("on", True), ("false", False), (False, False)):
        clean, errors = validate_submission(form, {"agree": raw, "must": True})
        assert errors == {} and clean == {"agree": value, "must": True}
    _, errors = validate_submission(form, {"agree": "yes", "must": False})
    assert errors == {"agree": "Must be true or false", "must": "Required"}


def test_checklist_and_taglist():
    values = [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]
    form = make_form({"id": "F1", "type": "checklist", "key": "picks", "label": "Picks", "values": values,
                      "validate": {"required": True}},
                     {"id": "F2", "type": "taglist", "key": "tags", "label": "Tags", "values": values})
    clean, errors = validate_submission(form, {"picks": ["a", "b", "a"], "tags": ["b"]})
    assert errors == {} and clean == {"picks": ["a", "b"], "tags": ["b"]}
    _, errors = validate_submission(form, {"picks": [], "tags": "b"})
    assert errors == {"picks": "Required", "tags": "Must be a list"}
    _, errors = validate_submission(form, {"picks": ["c"]})
    assert errors == {"picks": "Each value must be one of: a, b"}


def test_select_with_dynamic_values_key():
    form = make_form({"id": "F1", "type": "select", "key": "approver", "label": "Approver",
                      "valuesKey": "approvers", "validate": {"required": True}},
                     {"id": "F2", "type": "radio", "key": "site", "label": "Site", "valuesKey": "lookup.sites"})
    variables = {"approvers": [{"label": "Ann", "value": "ann"}, {"label": "Bob", "value": "bob"}],
                 "lookup": {"sites": ["NORTH", "SOUTH"]}}
    clean, errors = validate_submission(form, {"approver": "bob", "site": "SOUTH"}, variables)
    assert errors == {} and clean == {"approver": "bob", "site": "SOUTH"}
    _, errors = validate_submission(form, {"approver": "eve", "site": "WEST"}, variables)
    assert errors == {"approver": "Must be one of: ann, bob", "site": "Must be one of: NORTH, SOUTH"}
    _, errors = validate_submission(form, {"approver": "bob"}, {})
    assert errors == {"approver": "No options are available"}


def test_datetime_subtypes():
    form = make_form({"id": "F1", "type": "datetime", "key": "day", "subtype": "date", "dateLabel": "Day"},
                     {"id": "F2", "type": "datetime", "key": "at", "subtype": "time", "timeLabel": "At"},
                     {"id": "F3", "type": "datetime", "key": "when", "subtype": "datetime"})
    good = {"day": "2024-02-29", "at": "09:30+01:00", "when": "2024-03-01T10:15Z"}
    clean, errors = validate_submission(form, good)
    assert errors == {} and clean == good
    _, errors = validate_submission(form, {"day": "2023-02-29", "at": "25:00", "when": "2024-03-01"})
    assert errors == {"day": "Must be a date (YYYY-MM-DD)", "at": "Must be a time (HH:MM)",
                      "when": "Must be a date and time (YYYY-MM-DDTHH:MM)"}


# ------------------------------------------------------------ nesting

def nested_form() -> Form:
    return make_form(
        {"id": "G1", "type": "group", "label": "Payee", "path": "payee", "components": [
            {"id": "F1", "type": "textfield", "key": "name", "label": "Name", "validate": {"required": True}},
            {"id": "G2", "type": "group", "label": "Address", "path": "address", "components": [
                {"id": "F2", "type": "textfield", "key": "city", "label": "City"}]},
        ]},
        {"id": "G3", "type": "group", "label": "No path", "components": [
            {"id": "F3", "type": "number", "key": "bank.iban_check", "label": "Check"}]},
        {"id": "L1", "type": "dynamiclist", "path": "lines", "label": "Lines", "isRepeating": True, "components": [
            {"id": "F4", "type": "textfield", "key": "item", "label": "Item", "validate": {"required": True}},
            {"id": "F5", "type": "number", "key": "qty", "label": "Qty", "validate": {"min": 1}}]},
    )


def test_nested_group_paths_and_dotted_keys():
    form = nested_form()
    assert [f.key for f in form.fields] == ["payee.name", "payee.address.city", "bank.iban_check", "lines"]
    data = {"payee": {"name": "Ann", "address": {"city": "Oslo"}}, "bank": {"iban_check": "7"},
            "lines": [{"item": "x", "qty": "2"}]}
    clean, errors = validate_submission(form, data)
    assert errors == {}
    assert clean == {"payee": {"name": "Ann", "address": {"city": "Oslo"}}, "bank": {"iban_check": 7},
                     "lines": [{"item": "x", "qty": 2}]}
    flat, errors = validate_submission(form, {"payee.name": "Ann", "payee.address.city": "Oslo"})
    assert errors == {} and flat == {"payee": {"name": "Ann", "address": {"city": "Oslo"}}}


def test_nested_errors_and_unknown_nested_keys():
    form = nested_form()
    _, errors = validate_submission(form, {"payee": {"address": {"city": "Oslo", "zip": "1"}, "extra": 1},
                                           "lines": [{"item": "x"}, {"qty": 0, "bad": 1}]})
    assert errors == {"payee.name": "Required", "payee.address.zip": "Unknown field", "payee.extra": "Unknown field",
                      "lines[1].item": "Required", "lines[1].qty": "Must be at least 1",
                      "lines[1].bad": "Unknown field"}
    _, errors = validate_submission(form, {"payee": "Ann", "lines": {"item": "x"}})
    assert errors == {"payee": "Must be an object", "payee.name": "Required", "lines": "Must be a list of rows"}


def test_conditionally_hidden_fields_are_not_required():
    form = make_form({"id": "F1", "type": "textfield", "key": "why", "label": "Why",
                      "validate": {"required": True, "maxLength": 3}, "conditional": {"hide": "=decision = \"approve\""}})
    assert validate_submission(form, {}) == ({}, {})
    assert validate_submission(form, {"why": "long"})[1] == {"why": "Must be at most 3 characters"}


# ------------------------------------------------------------ bad definitions

@pytest.mark.parametrize("text, problem", [
    ("{not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    (json.dumps({"type": "default", "components": []}), "has no id"),
    (json.dumps({"id": "x"}), "no list of components"),
])
def test_bad_form_documents(text, problem):
    with pytest.raises(FormDefinitionError, match=problem) as info:
        load_form(text, "broken.form")
    assert "broken.form" in str(info.value)


@pytest.mark.parametrize("components, problem", [
    ([{"id": "A", "type": "textfield", "key": "x"}, {"id": "B", "type": "number", "key": "x"}],
     "component 'x': duplicate key"),
    ([{"id": "A", "type": "textfield", "key": "a.b"},
      {"id": "G", "type": "group", "path": "a", "components": [{"id": "B", "type": "textfield", "key": "b"}]}],
     "component 'a.b': duplicate key"),
    ([{"id": "A", "type": "textfield", "key": "a"}, {"id": "B", "type": "textfield", "key": "a.b"}],
     "conflicts with 'a'"),
    ([{"id": "A", "type": "textfield", "key": "x"}, {"id": "A", "type": "textfield", "key": "y"}],
     "duplicate id 'A'"),
    ([{"id": "A", "type": "textfield", "key": "code", "validate": {"pattern": "([A-Z"}}],
     "component 'code': invalid pattern"),
    ([{"id": "A", "type": "number", "key": "n", "validate": {"min": 5, "max": 1}}],
     "component 'n': min 5 is greater than the maximum 1"),
    ([{"id": "A", "type": "textarea", "key": "t", "validate": {"minLength": 9, "maxLength": 2}}],
     "component 't': minLength 9"),
    ([{"id": "A", "type": "textfield"}], "component 'A': has no key"),
    ([{"id": "A", "type": "textfield", "key": "__class__"}], "not a valid variable name"),
    ([{"id": "A", "type": "radio", "key": "r"}], "component 'r': needs a list of values or a valuesKey"),
    ([{"id": "A", "type": "select", "key": "s", "valuesExpression": "=list"}], "valuesExpression is not supported"),
    ([{"id": "A", "type": "signature", "key": "s"}], "unsupported component type 'signature'"),
    ([{"id": "A", "type": "datetime", "key": "d", "subtype": "week"}], "unknown datetime subtype"),
    ([{"id": "A", "type": "number", "key": "n", "increment": "-1"}], "increment"),
    ([{"id": "A", "type": "dynamiclist", "components": []}], "component 'A': has no path"),
])
def test_bad_components(components, problem):
    with pytest.raises(FormDefinitionError, match=problem) as info:
        make_form(*components)
    assert "test_form.form" in str(info.value)
    assert info.value.element_id in ("A", "B")


def test_components_without_values_are_ignored():
    form = make_form({"id": "T", "type": "text", "text": "Hello {{name}}"}, {"id": "S", "type": "spacer"},
                     {"id": "P", "type": "separator"}, {"id": "I", "type": "image", "source": "x.png"},
                     {"id": "H", "type": "html", "content": "<b>x</b>"},
                     {"id": "B", "type": "button", "action": "submit", "label": "Submit"})
    assert form.fields == []
    assert validate_submission(form, {}) == ({}, {})
