"""Task specs and parser classes Lanes adds to SpiffWorkflow's Camunda parser.

Lanes never serializes specs: every process version is parsed from its stored
files, so these classes need no serializer converters.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.specs.mixins.bpmn_spec_mixin import BpmnSpecMixin
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, CamundaTaskParser


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
