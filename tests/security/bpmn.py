"""Small BPMN documents the security tests deploy."""
from __future__ import annotations

from xml.sax.saxutils import escape

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://lanes.test">\n')


def user_task_process(key: str, **attributes: str) -> bytes:
    """start -> user task `review` with the given camunda:* attributes -> end."""
    attrs = " ".join(f'camunda:{name}="{escape(value)}"' for name, value in attributes.items())
    return (HEAD + f'''  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:userTask id="review" name="Review" {attrs} />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>
''').encode()


def script_process(key: str, script: str, wait_first: bool = False) -> bytes:
    """start -> [user task `review` ->] script task `calc` running `script` -> end."""
    first = "review" if wait_first else "calc"
    review = ('''    <bpmn:userTask id="review" name="Review" camunda:candidateGroups="north_finance" />
    <bpmn:sequenceFlow id="f0" sourceRef="review" targetRef="calc" />
''' if wait_first else "")
    return (HEAD + f'''  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{first}" />
{review}    <bpmn:scriptTask id="calc" name="Calculate" scriptFormat="python">
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>
''').encode()


def condition_process(key: str, condition: str) -> bytes:
    """start -> exclusive gateway with `condition` on one branch and a default -> end."""
    return (HEAD + f'''  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="choose" />
    <bpmn:exclusiveGateway id="choose" default="otherwise" />
    <bpmn:sequenceFlow id="guarded" sourceRef="choose" targetRef="done">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="otherwise" sourceRef="choose" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>
''').encode()
