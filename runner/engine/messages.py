"""Inbound messages: what an instance waits for, starting at a message start event, delivering a message.

Camunda 7 semantics: a message has a name (the `name` of the `bpmn:message` its event refers to) and
variables; when it is delivered, every variable of the message becomes a process variable. Lanes
correlates messages to instances itself (by message name, business key and correlation keys over
process variables, in SQL), so the engine only needs to know, per workflow, which tasks wait for
which message name, and how to hand one message to them.

Deploy-time rules (`check_messages`): every message event and receive task names a `bpmn:message`
by `messageRef`, and that message has a literal name; throwing messages (intermediate throw and
end events) is not supported: other systems send messages through the API.
"""
from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.event_parsers import EventDefinitionParser
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, EventBasedGateway, ReceiveTask
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.task import TaskState

from .camunda import BPMN_NS
from .problems import Problem

_NS = {"bpmn": BPMN_NS}
THROWING = ("intermediateThrowEvent", "endEvent")


# --- parsing --------------------------------------------------------------------

class PlainMessages:
    """Parser mixin: message events get SpiffWorkflow's plain BPMN message definition.

    The Camunda flavour of SpiffWorkflow puts a message's payload into one `<task>_Response`
    variable; Camunda 7 itself sets every variable of the message as a process variable, which is
    what the plain definition does (`task.set_data(**payload)`). Receive tasks already use it.
    """

    def parse_message_event(self, message_event):
        return EventDefinitionParser.parse_message_event(self, message_event)


def check_messages(filename: str, tree: etree._Element) -> list[Problem]:
    """Deploy-time problems of the message events and receive tasks of one BPMN file."""
    names = {m.get("id"): (m.get("name") or "").strip() for m in tree.iterfind(".//bpmn:message", _NS)}
    problems = []

    def check_ref(owner_id: str, ref: str | None, what: str):
        if not ref:
            problems.append(Problem(filename, owner_id, f"{what} needs a message (messageRef naming a bpmn:message)"))
        elif ref not in names:
            problems.append(Problem(filename, owner_id, f"{what} refers to message '{ref}', which is not defined "
                                                        f"in this file"))
        elif not names[ref]:
            problems.append(Problem(filename, owner_id, f"message '{ref}' needs a name: the name is what senders use"))
        elif names[ref].startswith(("${", "#{")):
            problems.append(Problem(filename, owner_id, f"message name '{names[ref]}' is an expression; "
                                                        f"Lanes supports literal message names only"))

    for definition in tree.iterfind(".//bpmn:messageEventDefinition", _NS):
        owner = definition.getparent()
        tag = etree.QName(owner).localname
        if tag in THROWING:
            problems.append(Problem(filename, owner.get("id"), "message throw events are not supported; other "
                                    "systems send messages with POST /api/v1/messages"))
            continue
        if tag == "startEvent" and etree.QName(owner.getparent()).localname != "process":
            problems.append(Problem(filename, owner.get("id"), "message start events of (event) subprocesses are "
                                    "not supported; use a message boundary event or a catch event"))
            continue
        check_ref(owner.get("id"), definition.get("messageRef"), f"the message {_kind(tag)}")
    for task in tree.iterfind(".//bpmn:receiveTask", _NS):
        check_ref(task.get("id"), task.get("messageRef"), "a receive task")
    return problems


def _kind(tag: str) -> str:
    return {"startEvent": "start event", "intermediateCatchEvent": "catch event",
            "boundaryEvent": "boundary event"}.get(tag, tag)


# --- what a workflow waits for ------------------------------------------------------

@dataclass(frozen=True)
class MessageWait:
    spiff_task_id: str
    element_id: str
    message_name: str
    kind: str  # start | catch | receive | boundary | gateway (a catch event after an event-based gateway)


def _message_definition(task) -> MessageEventDefinition | None:
    definition = getattr(task.task_spec, "event_definition", None)
    return definition if isinstance(definition, MessageEventDefinition) else None


def _wait_kind(spec) -> str:
    if isinstance(spec, StartEvent):
        return "start"
    if isinstance(spec, BoundaryEvent):
        return "boundary"
    if isinstance(spec, ReceiveTask):
        return "receive"
    return "catch"


def _gateway_messages(task) -> list[tuple[str, MessageEventDefinition]]:
    """(element id, definition) of the message catch events after a waiting event-based gateway.

    SpiffWorkflow moves the events behind the gateway onto the gateway itself, in the order of its
    outgoing flows: the gateway task is the one that waits and catches."""
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(task.task_spec, EventBasedGateway) or not isinstance(definition, MultipleEventDefinition):
        return []
    return [(output.bpmn_id, item) for output, item in zip(task.task_spec.outputs, definition.event_definitions)
            if isinstance(item, MessageEventDefinition)]


def waiting_for_messages(workflow: BpmnWorkflow) -> list[MessageWait]:
    """Every task of the workflow (and its subprocesses) that waits for a message now."""
    waits = []
    for task in workflow.top_workflow.event_manager.tasks.values():
        if task.state != TaskState.WAITING:
            continue
        definition = _message_definition(task)
        if definition is not None:
            waits.append(MessageWait(str(task.id), task.task_spec.bpmn_id, definition.name, _wait_kind(task.task_spec)))
        for element_id, item in _gateway_messages(task):
            waits.append(MessageWait(str(task.id), element_id, item.name, "gateway"))
    return sorted(waits, key=lambda w: (w.message_name, w.element_id, w.spiff_task_id))


def start_messages(process) -> dict[str, str]:
    """Message name -> start event id, for the message start events of a parsed process."""
    found = {}
    for spec in process.spec.task_specs.values():
        if isinstance(spec, StartEvent) and isinstance(spec.event_definition, MessageEventDefinition):
            found.setdefault(spec.event_definition.name, spec.bpmn_id)
    return found


# --- delivering -----------------------------------------------------------------------

def start_tasks(workflow: BpmnWorkflow) -> list:
    """Run the workflow's internal Start task so its start events become ready or wait."""
    start = workflow.task_tree
    while start is not None and start.state == TaskState.COMPLETED and start.children:
        start = start.children[0]
    if start is not None and start.state == TaskState.READY and not getattr(start.task_spec, "bpmn_id", None):
        start.run()
    return [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
            if isinstance(t.task_spec, StartEvent) and t.workflow is workflow]


def keep_only_start(workflow: BpmnWorkflow, start_event_id: str | None) -> int:
    """Cancel every top-level start event but `start_event_id` (None: the none/timer ones stay);
    returns how many start events are left.

    BPMN starts an instance at one start event. SpiffWorkflow readies all of them, and a message
    start event that was not used would keep the instance from ever completing.
    """
    kept = 0
    for task in start_tasks(workflow):
        definition = task.task_spec.event_definition
        keep = (task.task_spec.bpmn_id == start_event_id if start_event_id is not None
                else not isinstance(definition, MessageEventDefinition))
        if keep:
            kept += 1
        else:
            task.cancel()
    return kept


def deliver(workflow: BpmnWorkflow, message_name: str, variables: dict,
            spiff_task_ids: set[str] | None = None) -> list[str]:
    """Hand one message to the tasks that wait for it (all of them, or those in `spiff_task_ids`).

    Returns the element ids that caught it (empty: nothing waits for it here). The caller runs
    the engine on afterwards.
    """
    caught = []
    for wait in waiting_for_messages(workflow):
        if wait.message_name != message_name or (spiff_task_ids is not None and wait.spiff_task_id not in spiff_task_ids):
            continue
        task = workflow.get_task_from_id(UUID(wait.spiff_task_id))
        if task is None or task.state != TaskState.WAITING:
            continue  # an earlier catch (an interrupting boundary event, a gateway's other branch) ended it
        definition = (task.task_spec.event_definition if wait.kind != "gateway"
                      else dict(_gateway_messages(task))[wait.element_id])
        event = BpmnEvent(definition, payload=dict(variables))
        task.task_spec.catch(task, event)
        task.task_spec._update(task)
        caught.append(wait.element_id)
    return caught
