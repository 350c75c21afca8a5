"""Parse and validate a deployment: BPMN + DMN + forms checked together, problems named per element."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException

import adapters

from . import dmn, expressions, forms
from .camunda import BPMN_NS, ElementConfig, read_element_configs
from .duedates import check_due_date, parse_duration
from .messages import check_messages
from .retry import parse_retry_cycle
from .loops import prepare_loop_tasks
from .problems import DeploymentInvalid, Problem
from .specs import LanesParser
from .start_timers import StartTimer, check_start_timer, read_start_timer
from .xmlsafe import parse_xml

KINDS = {".bpmn": "bpmn", ".bpmn20.xml": "bpmn", ".dmn": "dmn", ".form": "form"}
SCRIPT_FORMATS = {"", "python", "text/x-python"}
_FORM_KEY = re.compile(r"^camunda-forms:(?:deployment|app):(?:.*/)?(?P<name>[^/]+?)(?:\.form)?$")


@dataclass
class ParsedProcess:
    key: str
    name: str
    filename: str
    spec: object
    subprocess_specs: dict
    elements: dict[str, ElementConfig]
    start_timer: StartTimer | None = None


@dataclass
class ParsedDeployment:
    processes: dict[str, ParsedProcess] = field(default_factory=dict)
    decisions: dict[str, dmn.Decision] = field(default_factory=dict)
    forms: dict[str, forms.Form] = field(default_factory=dict)


def file_kind(filename: str) -> str | None:
    lower = filename.lower()
    for suffix, kind in KINDS.items():
        if lower.endswith(suffix):
            return kind
    return None


def form_ref_of(config: ElementConfig) -> str | None:
    """The form id a user task names, by camunda:formRef or a camunda-forms: formKey."""
    if config.get("formRef"):
        return config.get("formRef")
    key = config.get("formKey")
    if not key:
        return None
    match = _FORM_KEY.match(key)
    return match.group("name") if match else key


def referenced_forms(files: dict[str, bytes]) -> set[str]:
    """Form ids named by the user tasks of the BPMN files among `files` (unparseable files are skipped)."""
    refs = set()
    for filename, data in files.items():
        if file_kind(filename) != "bpmn":
            continue
        try:
            tree = parse_xml(data)
        except ValueError:
            continue
        configs, _ = read_element_configs(tree, filename)
        refs.update(ref for c in configs.values() if c.tag == "userTask" and (ref := form_ref_of(c)))
    return refs


def parse_deployment(files: dict[str, bytes]) -> ParsedDeployment:
    """Parse every file; raise DeploymentInvalid listing all problems, or return the runnable set."""
    problems: list[Problem] = []
    result = ParsedDeployment()
    bpmn_trees: dict[str, etree._Element] = {}
    if not any(file_kind(name) == "bpmn" for name in files):
        problems.append(Problem("(deployment)", None, "a deployment needs at least one .bpmn file"))

    for filename, data in sorted(files.items()):
        kind = file_kind(filename)
        if kind is None:
            problems.append(Problem(filename, None, "unsupported file type (expected .bpmn, .dmn or .form)"))
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(filename, None, "file is not UTF-8 text"))
            continue
        if kind == "form":
            _load_form(filename, data, result, problems)
        elif kind == "dmn":
            _load_dmn(filename, data, result, problems)
        else:
            try:
                bpmn_trees[filename] = parse_xml(data)
            except ValueError as exc:
                problems.append(Problem(filename, None, str(exc)))

    parser = LanesParser(validator=BpmnValidator())
    configs: dict[str, dict[str, ElementConfig]] = {}
    for filename, tree in bpmn_trees.items():
        file_configs, file_problems = read_element_configs(tree, filename)
        configs[filename] = file_configs
        problems.extend(file_problems)
        problems.extend(_check_elements(filename, tree, file_configs, result))
        try:
            parser.add_bpmn_xml(tree, filename)
        except ValidationException as exc:
            problems.append(_from_validation(exc, filename))

    if not problems:
        _build_processes(parser, configs, result, problems)
    if problems:
        raise DeploymentInvalid(problems)
    return result


def _from_validation(exc: ValidationException, filename: str) -> Problem:
    message = str(exc.args[0]) if exc.args else str(exc)
    if getattr(exc, "line_number", ""):
        message += f" (line {exc.line_number})"
    return Problem(exc.file_name or filename, exc.id or None, message)


def _load_form(filename, data, result, problems):
    try:
        form = forms.load_form(data, filename)
    except forms.FormDefinitionError as exc:
        problems.append(Problem(filename, None, str(exc)))
        return
    if form.id in result.forms:
        problems.append(Problem(filename, form.id, f"form id '{form.id}' is defined twice"))
    result.forms[form.id] = form


def _load_dmn(filename, data, result, problems):
    try:
        decisions = dmn.parse_dmn(data, filename)
    except dmn.DecisionError as exc:
        problems.append(Problem(filename, getattr(exc, "element_id", None), str(exc)))
        return
    for decision in decisions:
        if decision.id in result.decisions:
            problems.append(Problem(filename, decision.id, f"decision id '{decision.id}' is defined twice"))
        result.decisions[decision.id] = decision


def _build_processes(parser, configs, result, problems):
    for key in parser.get_process_ids():
        process_parser = parser.get_process_parser(key)
        filename = process_parser.filename
        try:
            spec = parser.get_spec(key)
            subprocess_specs = parser.get_subprocess_specs(key)
        except (ValidationException, SpiffWorkflowException) as exc:
            problems.append(_from_validation(exc, filename) if isinstance(exc, ValidationException)
                            else Problem(filename, key, str(exc)))
            continue
        loop_problems = [p for each in (spec, *subprocess_specs.values()) for p in prepare_loop_tasks(each, filename)]
        if loop_problems:
            problems.extend(loop_problems)
            continue
        elements = {}
        for file_configs in configs.values():
            elements.update(file_configs)
        name = process_parser.node.get("name") or key
        start_timer = read_start_timer(process_parser.node)
        if start_timer is not None and (error := check_start_timer(start_timer)):
            problems.append(Problem(filename, start_timer.element_id, error))
            continue
        result.processes[key] = ParsedProcess(key, name, filename, spec, subprocess_specs, elements, start_timer)
    if not result.processes and not problems:
        problems.append(Problem("(deployment)", None, "no executable process (isExecutable=\"true\") found"))


# --- element checks -------------------------------------------------------

def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _check_elements(filename, tree, configs, result) -> list[Problem]:
    problems: list[Problem] = []

    def check_expr(element_id, text, mode="eval", what="expression"):
        try:
            expressions.check(text, mode)
        except expressions.ExpressionError as exc:
            problems.append(Problem(filename, element_id, f"{what} '{_shorten(text.strip())}' is invalid: {exc}"))

    ns = {"bpmn": BPMN_NS}
    for flow in tree.iterfind(".//bpmn:sequenceFlow", ns):
        problems.extend(_check_flow_ends(filename, flow))
        condition = flow.find("bpmn:conditionExpression", ns)
        if condition is not None and (condition.text or "").strip():
            check_expr(flow.get("id"), condition.text, what="condition")
    for task in tree.iterfind(".//bpmn:scriptTask", ns):
        fmt = (task.get("scriptFormat") or "").strip().lower()
        if fmt not in SCRIPT_FORMATS:
            problems.append(Problem(filename, task.get("id"),
                                    f"script format '{fmt}' is not supported; write the script in python"))
        script = task.find("bpmn:script", ns)
        if script is not None and script.text:
            check_expr(task.get("id"), script.text, mode="exec", what="script")

    for timer in tree.iterfind(".//bpmn:timerEventDefinition", ns):
        problems.extend(_check_timer(filename, timer))
    problems.extend(check_messages(filename, tree))

    for element_id, config in configs.items():
        if config.retry_cycle is not None:
            try:
                parse_retry_cycle(config.retry_cycle)
            except ValueError as exc:
                problems.append(Problem(filename, element_id, f"camunda:failedJobRetryTimeCycle {exc}"))
        if (config.inputs or config.outputs) and config.tag not in MAPPED_TAGS:
            problems.append(Problem(filename, element_id, "camunda:inputOutput is supported on service tasks only: "
                                    "set variables with a script task or the form instead"))
        for name, expr in {**config.inputs, **config.outputs}.items():
            if expr.strip().startswith(("${", "#{")):  # anything else is a literal string
                check_expr(element_id, expr, what=f"mapping '{name}'")
        if config.tag == "userTask":
            problems.extend(_check_user_task(filename, config, result, check_expr))
        elif config.tag == "businessRuleTask":
            ref = config.get("decisionRef")
            if ref and ref not in result.decisions:
                problems.append(Problem(filename, element_id, f"decisionRef '{ref}' names no decision in this deployment"))
            mode = config.get("mapDecisionResult")
            if mode and mode not in dmn.MAP_MODES:
                problems.append(Problem(filename, element_id, f"mapDecisionResult '{mode}' is not one of {', '.join(dmn.MAP_MODES)}"))
        elif config.tag == "serviceTask":
            problems.extend(_check_service_task(filename, config))
        elif config.tag in UNSUPPORTED_TAGS:
            problems.append(Problem(filename, element_id, UNSUPPORTED_TAGS[config.tag]))
    return problems


def _check_flow_ends(filename, flow) -> list[Problem]:
    """A sequence flow connects two elements of its own process or subprocess (SpiffWorkflow, given
    a dangling one, blames the element before it with a message about forms)."""
    scope = flow.getparent()
    ids = {child.get("id") for child in scope if child is not flow}
    problems = []
    for end, what in (("sourceRef", "starts at"), ("targetRef", "leads to")):
        ref = flow.get(end)
        if not ref:
            problems.append(Problem(filename, flow.get("id"), f"sequence flow has no {end}"))
        elif ref not in ids:
            problems.append(Problem(filename, flow.get("id"), f"sequence flow {what} '{ref}' ({end}), which is "
                                    f"not an element of {scope.get('id') or 'its process'}"))
    return problems


MAPPED_TAGS = {"serviceTask"}  # where camunda:inputOutput is applied (runtime.external_call / complete)
UNSUPPORTED_TAGS = {
    "sendTask": "send tasks are not supported",
    "complexGateway": "complex gateways are not supported",
}


def _check_service_task(filename, config) -> list[Problem]:
    """The topic must name a known adapter operation, and every required input must be mapped."""
    if config.get("type") != "external" or not config.get("topic"):
        return [Problem(filename, config.element_id,
                        'a service task needs camunda:type="external" and a camunda:topic such as erp.post_journal_entry')]
    topic = config.get("topic")
    contracts = adapters.contracts()
    if topic not in contracts:
        return [Problem(filename, config.element_id,
                        f"camunda:topic '{topic}' is not an adapter operation; known: {', '.join(contracts.topics())}")]
    operation = contracts.operation(topic)
    declared = {field.name for field in operation.inputs}
    problems = [Problem(filename, config.element_id, f"input '{name}' is not an input of {topic}")
                for name in sorted(set(config.inputs) - declared)]
    problems += [Problem(filename, config.element_id, f"{topic} needs input '{field.name}': map it with camunda:inputParameter")
                 for field in operation.inputs if field.required and field.name not in config.inputs]
    return problems


def _check_timer(filename, timer) -> list[Problem]:
    owner = timer.getparent().get("id")
    for kind in ("timeDuration", "timeDate", "timeCycle"):
        node = timer.find(f"bpmn:{kind}", {"bpmn": BPMN_NS})
        if node is None:
            continue
        text = (node.text or "").strip()
        if text.startswith(("${", "#{")):
            try:
                expressions.check(text)
            except expressions.ExpressionError as exc:
                return [Problem(filename, owner, f"timer expression '{text}' is invalid: {exc}")]
            return []
        if kind == "timeDuration" and parse_duration(text) is None:
            return [Problem(filename, owner, f"timer duration '{text}' is not an ISO 8601 duration such as PT5M")]
        if kind == "timeCycle" and not text.upper().startswith("R"):
            return [Problem(filename, owner, f"timer cycle '{text}' is not an ISO 8601 repetition such as R3/PT10M")]
        if kind == "timeDate" and check_due_date(text):
            return [Problem(filename, owner, f"timer date '{text}' is not an ISO 8601 date-time")]
        return []
    return [Problem(filename, owner, "a timer needs a timeDuration, timeDate or timeCycle")]


def _check_user_task(filename, config, result, check_expr) -> list[Problem]:
    problems = []
    for attr in ("candidateGroups", "candidateUsers", "assignee", "dueDate"):
        value = config.get(attr)
        if value and value.strip().startswith(("${", "#{")):
            check_expr(config.element_id, value, what=f"camunda:{attr}")
    due = config.get("dueDate")
    if due and not due.strip().startswith(("${", "#{")):
        error = check_due_date(due)
        if error:
            problems.append(Problem(filename, config.element_id, f"camunda:dueDate '{due}': {error}"))
    form_ref = form_ref_of(config)
    if form_ref and form_ref not in result.forms:
        problems.append(Problem(filename, config.element_id, f"form '{form_ref}' is not in this deployment"))
    return problems
