"""A user task's own data: the element variable of a multi-instance child, and how answers merge into it."""
from __future__ import annotations

from datetime import datetime

import pytest

from runner.engine import ProcessRuntime, parse_deployment
from runner.engine.runtime import merge_data, merge_value

NOW = datetime(2026, 1, 1)


def review_bpmn(sequential: bool) -> bytes:
    flag = ' isSequential="true"' if sequential else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review_line" />
    <bpmn:userTask id="review_line" name="Review line" camunda:candidateGroups="reviewers">
      <bpmn:multiInstanceLoopCharacteristics{flag} camunda:collection="${{lines}}" camunda:elementVariable="line" />
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review_line" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def runtime(sequential: bool) -> ProcessRuntime:
    parsed = parse_deployment({"review.bpmn": review_bpmn(sequential)})
    return ProcessRuntime(parsed.processes["review"], parsed)


LINES = [{"no": 1, "item": "gloves", "tags": ["a"]}, {"no": 2, "item": "tubing", "tags": ["b"]}]


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_each_child_has_its_element_variable_as_its_own_and_answers_merge_into_it(sequential):
    engine = runtime(sequential)
    workflow = engine.start({"lines": [dict(line) for line in LINES], "site": "NORTH"})
    ready = engine.ready_user_tasks(workflow, NOW)
    assert len(ready) == (1 if sequential else 2)
    local = engine.local_variables(workflow, [t.spiff_task_id for t in ready])
    assert [local[t.spiff_task_id] for t in ready] == [{"line": line} for line in LINES[:len(ready)]]
    assert "line" not in engine.variables(workflow)

    for index in range(2):
        task = engine.ready_user_tasks(workflow, NOW)[0]
        engine.complete_user_task(workflow, task.spiff_task_id,
                                  {"line": {"decision": "approve", "tags": ["x"]}, "note": index})
    assert workflow.is_completed()
    assert engine.variables(workflow)["lines"] == [
        {"no": 1, "item": "gloves", "tags": ["x"], "decision": "approve"},   # a list is replaced, not merged
        {"no": 2, "item": "tubing", "tags": ["x"], "decision": "approve"}]


def test_merge_value_merges_dicts_and_replaces_everything_else():
    base = {"line": {"no": 1, "detail": {"a": 1, "b": 2}, "tags": [1, 2]}, "n": 1, "s": {"k": 1}}
    merged = merge_data(base, {"line": {"detail": {"b": 3}, "tags": [3]}, "n": {"now": "a dict"}, "s": 5,
                               "new": {"x": 1}})
    assert merged == {"line": {"no": 1, "detail": {"a": 1, "b": 3}, "tags": [3]}, "n": {"now": "a dict"},
                      "s": 5, "new": {"x": 1}}
    assert base == {"line": {"no": 1, "detail": {"a": 1, "b": 2}, "tags": [1, 2]}, "n": 1, "s": {"k": 1}}
    assert merge_value([1], [2]) == [2] and merge_value({"a": 1}, None) is None
