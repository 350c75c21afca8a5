"""Task specs and parser classes Lanes adds to SpiffWorkflow's Camunda parser.

Lanes never serializes specs: every process version is parsed from its stored
files, so these classes need no serializer converters.
"""
from __future__ import annotations

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser import event_parsers as camunda_events
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser

from .camunda import BPMN_NS
from .messages import PlainMessages


class DecisionTask(BpmnSpecMixin):
    """A business rule task evaluated by Lanes' own DMN engine (see dmn.py)."""

    def __init__(self, wf_spec, bpmn_id, decision_ref, result_variable=None, map_decision_result=None, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.decision_ref = decision_ref
        self.result_variable = result_variable
        self.map_decision_result = map_decision_result

    def _run_hook(self, my_task):
        my_task.workflow.script_engine.run_decision(my_task, self)
        return True


class DecisionTaskParser(CamundaTaskParser):
    @staticmethod
    def get_decision_ref(node):
        return node.get(f"{{{CAMUNDA_MODEL_NS}}}decisionRef")

    def create_task(self):
        def camunda(name):
            return self.node.get(f"{{{CAMUNDA_MODEL_NS}}}{name}")

        ref = camunda("decisionRef")
        if not ref:
            self.raise_validation_exception("A business rule task needs camunda:decisionRef")
        return DecisionTask(self.spec, self.bpmn_id, decision_ref=ref,
                            result_variable=camunda("resultVariable"),
                            map_decision_result=camunda("mapDecisionResult"),
                            **self.bpmn_attributes)


class LanesParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = dict(CamundaParser.OVERRIDE_PARSER_CLASSES)
    OVERRIDE_PARSER_CLASSES[full_tag("businessRuleTask")] = (DecisionTaskParser, DecisionTask)


# --- service tasks bound to adapters ------------------------------------------

class ExternalTask(BpmnSpecMixin):
    """A service task with camunda:type="external": run by a worker as a job, never inline.

    It is `manual` so SpiffWorkflow's engine steps stop at it, as they stop at user tasks.
    """

    def __init__(self, wf_spec, bpmn_id, topic, **kwargs):
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.topic = topic
        self.manual = True


class ExternalTaskParser(CamundaTaskParser):
    def create_task(self):
        kind = self.node.get(f"{{{CAMUNDA_MODEL_NS}}}type")
        topic = self.node.get(f"{{{CAMUNDA_MODEL_NS}}}topic")
        if kind != "external" or not topic:
            self.raise_validation_exception(
                'A service task needs camunda:type="external" and a camunda:topic naming an adapter operation')
        return ExternalTask(self.spec, self.bpmn_id, topic=topic, **self.bpmn_attributes)


# --- timers: Camunda writes literal ISO values, Spiff evaluates expressions --------

def timer_expression(text: str | None) -> str:
    """`PT5M` or `2026-12-01T09:00` become string literals; `${expr}` stays an expression."""
    value = (text or "").strip()
    if value.startswith(("${", "#{")):
        return value
    return repr(value)


class _TimerLiterals:
    def parse_timer_event(self, event):
        definition = super().parse_timer_event(event)
        definition.expression = timer_expression(definition.expression)
        return definition


def is_timer_start(node) -> bool:
    """A process-level timer start event: Lanes schedules it per version (jobs), not per instance."""
    parent = node.getparent()
    return (parent is not None and etree.QName(parent).localname == "process"
            and node.find(f"{{{BPMN_NS}}}timerEventDefinition") is not None)


class StartEventParser(_TimerLiterals, PlainMessages, camunda_events.CamundaStartEventParser):
    def create_task(self):
        if is_timer_start(self.node):  # the instance itself starts at once; the timer made it start
            task = self._create_task(NoneEventDefinition())
            self.spec.start.connect(task)
            return task
        return super().create_task()


class IntermediateCatchEventParser(_TimerLiterals, PlainMessages, camunda_events.CamundaIntermediateCatchEventParser):
    pass


class BoundaryEventParser(_TimerLiterals, PlainMessages, camunda_events.CamundaBoundaryEventParser):
    pass


def _override(tag: str, parser_cls, spec_cls=None):
    _, current_spec = LanesParser.OVERRIDE_PARSER_CLASSES[full_tag(tag)]
    LanesParser.OVERRIDE_PARSER_CLASSES[full_tag(tag)] = (parser_cls, spec_cls or current_spec)


LanesParser.OVERRIDE_PARSER_CLASSES[full_tag("serviceTask")] = (ExternalTaskParser, ExternalTask)
_override("startEvent", StartEventParser)
_override("intermediateCatchEvent", IntermediateCatchEventParser)
_override("boundaryEvent", BoundaryEventParser)
