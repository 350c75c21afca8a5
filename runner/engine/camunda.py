"""The Camunda 7 extensions Lanes supports: read them per element, reject the rest by name.

Every `camunda:` attribute and extension element found in a BPMN file is either
listed here (and so implemented) or reported as a deploy-time problem naming the
element id. Nothing is skipped silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .problems import Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

# camunda attributes accepted per BPMN element (local names).
_ANY_ACTIVITY = {"asyncBefore", "asyncAfter", "exclusive", "jobPriority"}
ATTRIBUTES: dict[str, set[str]] = {
    "definitions": set(),
    "process": {"historyTimeToLive", "versionTag", "isStartableInTasklist"},
    "userTask": _ANY_ACTIVITY | {
        "candidateGroups", "candidateUsers", "assignee", "dueDate", "formRef",
        "formRefBinding", "formRefVersion", "formKey", "priority",
    },
    "businessRuleTask": _ANY_ACTIVITY | {
        "decisionRef", "resultVariable", "mapDecisionResult", "decisionRefBinding",
    },
    "serviceTask": _ANY_ACTIVITY | {"type", "topic"},
    "scriptTask": _ANY_ACTIVITY | {"resultVariable"},
    "startEvent": {"asyncBefore", "asyncAfter", "initiator"},
}
_DEFAULT_ALLOWED = _ANY_ACTIVITY

# camunda extension elements accepted, by local name.
EXTENSION_ELEMENTS = {
    "properties", "property", "inputOutput", "inputParameter", "outputParameter",
    "failedJobRetryTimeCycle", "list", "value", "map", "entry",
}


@dataclass
class ElementConfig:
    """What Lanes reads from one BPMN element's camunda extensions."""

    element_id: str
    tag: str
    attributes: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)   # name -> expression
    outputs: dict[str, str] = field(default_factory=dict)  # name -> expression
    properties: dict[str, str] = field(default_factory=dict)
    retry_cycle: str | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attributes.get(name, default)


def _local(tag: str) -> str:
    return etree.QName(tag).localname


def _owning_element_id(node: etree._Element) -> str | None:
    while node is not None:
        if node.get("id") and etree.QName(node).namespace == BPMN_NS:
            return node.get("id")
        node = node.getparent()
    return None


def _parameter_value(param: etree._Element) -> str:
    """A camunda:inputParameter's expression; script and list/map forms are not supported."""
    if len(param):
        raise ValueError(f"camunda:{_local(param.tag)} '{param.get('name')}' uses a nested "
                         f"{_local(param[0].tag)}; only text expressions are supported")
    return (param.text or "").strip()


def read_element_configs(root: etree._Element, filename: str) -> tuple[dict[str, ElementConfig], list[Problem]]:
    """Collect the camunda configuration of every BPMN element with an id, and any problems."""
    configs: dict[str, ElementConfig] = {}
    problems: list[Problem] = []
    for node in root.iter(etree.Element):
        qname = etree.QName(node)
        if qname.namespace == BPMN_NS and node.get("id"):
            config = ElementConfig(node.get("id"), qname.localname)
            allowed = ATTRIBUTES.get(qname.localname, _DEFAULT_ALLOWED)
            for attr, value in node.attrib.items():
                attr_q = etree.QName(attr)
                if attr_q.namespace != CAMUNDA_NS:
                    continue
                if attr_q.localname not in allowed:
                    problems.append(Problem(filename, config.element_id,
                                            f"camunda:{attr_q.localname} on a {qname.localname} is not supported by Lanes"))
                config.attributes[attr_q.localname] = value
            configs[config.element_id] = config
        elif qname.namespace == CAMUNDA_NS:
            owner = _owning_element_id(node)
            if qname.localname not in EXTENSION_ELEMENTS:
                problems.append(Problem(filename, owner, f"camunda:{qname.localname} is not supported by Lanes"))
                continue
            config = configs.get(owner) if owner else None
            if config is None:
                continue
            try:
                _read_extension(node, config)
            except ValueError as exc:
                problems.append(Problem(filename, owner, str(exc)))
    return configs, problems


def _read_extension(node: etree._Element, config: ElementConfig) -> None:
    name = _local(node.tag)
    if name == "inputParameter":
        config.inputs[node.get("name")] = _parameter_value(node)
    elif name == "outputParameter":
        config.outputs[node.get("name")] = _parameter_value(node)
    elif name == "property":
        config.properties[node.get("name")] = node.get("value")
    elif name == "failedJobRetryTimeCycle":
        config.retry_cycle = (node.text or "").strip()
