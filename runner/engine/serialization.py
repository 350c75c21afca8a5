"""Workflow state to JSON and back, without the spec: specs come from the version's parsed files."""
from __future__ import annotations

import json
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

STATE_FORMAT = "lanes-1"


class StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """BpmnWorkflow converter that leaves the (immutable, per-version) specs out."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_config = dict(CAMUNDA_CONFIG)
_config[BpmnWorkflow] = StateOnlyWorkflowConverter
_registry = BpmnWorkflowSerializer.configure(_config)
_serializer = BpmnWorkflowSerializer(_registry)


def dump_state(workflow: BpmnWorkflow) -> str:
    _registry._encoder_mode = True  # let the JSON encoder convert data lazily, as Spiff's own serializer does
    try:
        dct = _serializer.to_dict(workflow)
        dct["format"] = STATE_FORMAT
        return json.dumps(dct, cls=_serializer._encoder_cls, separators=(",", ":"))
    finally:
        _registry._encoder_mode = False


def load_state(text: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
    dct = json.loads(text, cls=_serializer.json_decoder_cls)
    if dct.pop("format", None) != STATE_FORMAT:
        raise ValueError("unknown workflow state format")
    return _serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
