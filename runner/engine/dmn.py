"""DMN 1.1-1.3 decision tables: safe parsing, compile-at-deploy, DMN 1.3 hit policies.

Result shapes (DecisionResult):
- `matched_rows` / `matched_rule_ids` / `outputs`: the rules that make up the result, in hit-policy
  order. Single-hit policies (UNIQUE, FIRST, PRIORITY, ANY) keep only the one selected rule;
  COLLECT, RULE ORDER and OUTPUT ORDER keep every matching rule.
- `value`: single-hit -> that rule's output dict or None; COLLECT / RULE ORDER / OUTPUT ORDER ->
  list of output dicts; COLLECT with an aggregation -> {output name: number} (SUM/MIN/MAX of no
  values is None, COUNT of no values is 0; None outputs are ignored).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from lxml import etree

from . import feel
from .xmlsafe import parse_xml

DMN_NAMESPACES = frozenset((
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",      # DMN 1.1
    "http://www.omg.org/spec/DMN/20180521/MODEL/",       # DMN 1.2
    "https://www.omg.org/spec/DMN/20191111/MODEL/",      # DMN 1.3
    "https://www.omg.org/spec/DMN/20211108/MODEL/",      # DMN 1.4
    "https://www.omg.org/spec/DMN/20230324/MODEL/",      # DMN 1.5
))
HIT_POLICIES = ("UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
MAP_MODES = ("singleEntry", "singleResult", "collectEntries", "resultList")
NUMBER_TYPES = frozenset(("number", "integer", "double", "long"))


class DecisionError(Exception):
    """A decision could not be parsed or evaluated; `.file` and `.element_id` locate it."""

    def __init__(self, message: str, file: str | None = None, element_id: str | None = None):
        self.file = file
        self.element_id = element_id
        super().__init__(message)


@dataclass
class Input:
    id: str
    label: str
    expression: str
    type_ref: str | None
    compiled: Callable[[dict], Any] = field(repr=False, default=None)


@dataclass
class Output:
    id: str
    label: str
    name: str
    type_ref: str | None
    allowed_values: list = field(default_factory=list)


@dataclass
class Rule:
    id: str
    row: int
    input_entries: list[str]
    output_entries: list[str]
    annotation: str | None = None
    tests: list[Callable] = field(repr=False, default_factory=list)
    results: list[Callable] = field(repr=False, default_factory=list)


@dataclass
class Decision:
    id: str
    name: str
    hit_policy: str
    aggregation: str | None
    inputs: list[Input]
    outputs: list[Output]
    rules: list[Rule]
    file: str = ""


@dataclass
class DecisionResult:
    decision_id: str
    matched_rows: list[int]
    matched_rule_ids: list[str]
    outputs: list[dict]
    value: Any


# --- parsing -------------------------------------------------------------------

def _parse_xml(data: bytes, filename: str) -> etree._Element:
    try:
        return parse_xml(data)
    except ValueError as exc:
        raise DecisionError(f"{filename}: {exc}", filename) from None


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(element, name: str) -> list:
    return [child for child in element if _local(child.tag) == name]


def _child(element, name: str):
    found = _children(element, name)
    return found[0] if found else None


def _text(element, name: str = "text") -> str:
    """Text of the `name` child of element (or '' when either is missing)."""
    if element is None:
        return ""
    node = _child(element, name)
    return (node.text or "").strip() if node is not None else ""


def parse_dmn(data: bytes, filename: str) -> list[Decision]:
    """Parse a DMN file into compiled decisions; any problem raises DecisionError."""
    root = _parse_xml(data, filename)
    namespace = etree.QName(root).namespace
    if _local(root.tag) != "definitions" or namespace not in DMN_NAMESPACES:
        raise DecisionError(f"{filename}: not a DMN file (root element {root.tag})", filename)
    decisions = [_parse_decision(node, filename) for node in _children(root, "decision")]
    if not decisions:
        raise DecisionError(f"{filename}: no decision found", filename)
    return decisions


def _parse_decision(node, filename: str) -> Decision:
    decision_id = node.get("id") or ""
    where = f"{filename}: decision '{decision_id}'"
    if not decision_id:
        raise DecisionError(f"{filename}: a decision has no id", filename)
    table = _child(node, "decisionTable")
    if table is None:
        raise DecisionError(f"{where}: only decision tables are supported", filename, decision_id)
    hit_policy, aggregation = _hit_policy(table, where, filename, decision_id)
    inputs = [_parse_input(item, where, filename) for item in _children(table, "input")]
    outputs = [_parse_output(item, index, where, filename) for index, item in enumerate(_children(table, "output"))]
    if not outputs:
        raise DecisionError(f"{where}: the table has no output column", filename, decision_id)
    decision = Decision(decision_id, node.get("name") or decision_id, hit_policy, aggregation,
                        inputs, outputs, [], filename)
    _check_policy_needs(decision, where)
    decision.rules = [_parse_rule(item, row, decision, where)
                      for row, item in enumerate(_children(table, "rule"), start=1)]
    return decision


def _hit_policy(table, where: str, filename: str, decision_id: str) -> tuple[str, str | None]:
    hit_policy = (table.get("hitPolicy") or "UNIQUE").strip().upper().replace("_", " ")
    aggregation = (table.get("aggregation") or "").strip().upper() or None
    if hit_policy not in HIT_POLICIES:
        raise DecisionError(f"{where}: hit policy '{hit_policy}' is not one of {', '.join(HIT_POLICIES)}",
                            filename, decision_id)
    if aggregation and (hit_policy != "COLLECT" or aggregation not in AGGREGATIONS):
        raise DecisionError(f"{where}: aggregation '{aggregation}' needs hit policy COLLECT and one of "
                            f"{', '.join(AGGREGATIONS)}", filename, decision_id)
    return hit_policy, aggregation


def _check_policy_needs(decision: Decision, where: str) -> None:
    if decision.aggregation and len(decision.outputs) != 1:
        raise DecisionError(f"{where}: COLLECT {decision.aggregation} needs exactly one output column",
                            decision.file, decision.id)
    if decision.hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(o.allowed_values for o in decision.outputs):
        raise DecisionError(f"{where}: hit policy {decision.hit_policy} needs output values on an output column",
                            decision.file, decision.id)


def _parse_input(node, where: str, filename: str) -> Input:
    input_id = node.get("id") or ""
    expression_node = _child(node, "inputExpression")
    expression = _text(expression_node)
    label = node.get("label") or expression or input_id
    if not expression:
        raise DecisionError(f"{where}: input '{label}' has no input expression", filename, input_id or None)
    type_ref = expression_node.get("typeRef") if expression_node is not None else None
    try:
        compiled = feel.compile_literal(expression)
    except feel.FeelError as exc:
        raise DecisionError(f"{where}: input '{label}' expression '{expression}': {exc.problem}",
                            filename, input_id or None) from None
    return Input(input_id, label, expression, type_ref, compiled)


def _parse_output(node, index: int, where: str, filename: str) -> Output:
    output_id = node.get("id") or f"output{index + 1}"
    name = node.get("name") or node.get("label") or output_id
    try:
        allowed = feel.parse_values(_text(_child(node, "outputValues")))
    except feel.FeelError as exc:
        raise DecisionError(f"{where}: output '{name}' values: {exc.problem}", filename, output_id) from None
    return Output(output_id, node.get("label") or name, name, node.get("typeRef"), allowed)


def _parse_rule(node, row: int, decision: Decision, where: str) -> Rule:
    rule_id = node.get("id") or f"row {row}"
    inputs = [_text(entry) for entry in _children(node, "inputEntry")]
    outputs = [_text(entry) for entry in _children(node, "outputEntry")]
    if len(inputs) != len(decision.inputs) or len(outputs) != len(decision.outputs):
        raise DecisionError(f"{where} rule '{rule_id}': has {len(inputs)} input and {len(outputs)} output entries, "
                            f"the table has {len(decision.inputs)} and {len(decision.outputs)} columns",
                            decision.file, rule_id)
    annotation = _text(node, "description") or _text(_child(node, "annotationEntry")) or None
    rule = Rule(rule_id, row, inputs, outputs, annotation)
    rule.tests = [_compile_entry(feel.compile_unary_tests, text, "input", where, rule_id, decision.file)
                  for text in inputs]
    rule.results = [_compile_entry(feel.compile_literal, text, "output", where, rule_id, decision.file)
                    for text in outputs]
    return rule


def _compile_entry(compiler, text: str, what: str, where: str, rule_id: str, filename: str):
    try:
        return compiler(text)
    except feel.FeelError as exc:
        raise DecisionError(f"{where} rule '{rule_id}' {what} entry '{text}': {exc.problem}",
                            filename, rule_id) from None


# --- evaluation ------------------------------------------------------------------

def evaluate(decision: Decision, variables: dict) -> DecisionResult:
    """Evaluate a decision table against `variables` and apply its hit policy."""
    matched = matching_rules(decision, variables)
    outputs = [_rule_outputs(decision, rule, variables) for rule in matched]
    return _apply_hit_policy(decision, matched, outputs)


def matching_rules(decision: Decision, variables: dict) -> list[Rule]:
    """Every rule whose input entries all hold, before the hit policy picks among them."""
    values = [_input_value(decision, item, variables) for item in decision.inputs]
    return [rule for rule in decision.rules
            if all(test(value, variables) for test, value in zip(rule.tests, values))]


def _input_value(decision: Decision, item: Input, variables: dict) -> Any:
    try:
        value = item.compiled(variables)
    except Exception as exc:  # the restricted evaluator reports in plain words
        raise DecisionError(f"decision '{decision.id}': input '{item.label}': {exc}", decision.file, item.id) from None
    return _coerce(value, item.type_ref, decision, f"input '{item.label}'", item.id)


def _rule_outputs(decision: Decision, rule: Rule, variables: dict) -> dict:
    result = {}
    for output, compiled in zip(decision.outputs, rule.results):
        try:
            value = compiled(variables)
        except Exception as exc:
            raise DecisionError(f"decision '{decision.id}' rule '{rule.id}' output '{output.name}': {exc}",
                                decision.file, rule.id) from None
        result[output.name] = _coerce(value, output.type_ref, decision, f"rule '{rule.id}' output '{output.name}'",
                                      rule.id)
    return result


def _coerce(value: Any, type_ref: str | None, decision: Decision, what: str, element_id: str) -> Any:
    """Convert a value to its column's typeRef (number, boolean, string); None stays None."""
    kind = (type_ref or "").strip().lower()
    if value is None or not kind:
        return value
    try:
        if kind in NUMBER_TYPES:
            return _to_number(value, kind)
        if kind == "boolean":
            return _to_bool(value)
        if kind == "string":
            return value if isinstance(value, str) else str(value)
    except (ValueError, TypeError, InvalidOperation):
        raise DecisionError(f"decision '{decision.id}' {what}: {value!r} is not of type {kind}",
                            decision.file, element_id) from None
    return value


def _to_number(value: Any, kind: str) -> int | float:
    if isinstance(value, bool):
        raise TypeError("boolean is not a number")
    if isinstance(value, str):
        value = Decimal(value.strip())
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if kind in ("integer", "long"):
        if value != int(value):
            raise ValueError("not a whole number")
        return int(value)
    return float(value) if kind == "double" else value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("not a boolean")


def _rows(rules: list[Rule]) -> str:
    return ", ".join(f"{rule.row} ({rule.id})" for rule in rules)


def _apply_hit_policy(decision: Decision, matched: list[Rule], outputs: list[dict]) -> DecisionResult:
    policy = decision.hit_policy
    if policy == "UNIQUE" and len(matched) > 1:
        raise DecisionError(f"decision '{decision.id}' has hit policy UNIQUE but rows {_rows(matched)} matched",
                            decision.file, decision.id)
    if policy == "ANY" and any(out != outputs[0] for out in outputs):
        raise DecisionError(f"decision '{decision.id}' has hit policy ANY but rows {_rows(matched)} matched "
                            "with different outputs", decision.file, decision.id)
    if policy in ("PRIORITY", "OUTPUT ORDER"):
        matched, outputs = _sort_by_priority(decision, matched, outputs)
    if policy in ("UNIQUE", "FIRST", "PRIORITY", "ANY"):
        matched, outputs = matched[:1], outputs[:1]
        value = outputs[0] if outputs else None
    elif decision.aggregation:
        value = _aggregate(decision, outputs)
    else:
        value = outputs
    return DecisionResult(decision.id, [r.row for r in matched], [r.id for r in matched], outputs, value)


def _sort_by_priority(decision: Decision, matched: list[Rule], outputs: list[dict]):
    """Order matches by the position of their outputs in the output values lists (stable)."""
    ranked = [o for o in decision.outputs if o.allowed_values]

    def key(pair):
        rule, out = pair
        return tuple(_priority(decision, o, out.get(o.name), rule) for o in ranked)
    pairs = sorted(zip(matched, outputs), key=key)
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _priority(decision: Decision, output: Output, value: Any, rule: Rule) -> int:
    for index, allowed in enumerate(output.allowed_values):
        if feel.equal(value, allowed):
            return index
    raise DecisionError(f"decision '{decision.id}' rule '{rule.id}': output '{output.name}' value {value!r} "
                        f"is not one of its output values {output.allowed_values}", decision.file, rule.id)


def _aggregate(decision: Decision, outputs: list[dict]) -> dict:
    name = decision.outputs[0].name
    values = [out[name] for out in outputs if out.get(name) is not None]
    if decision.aggregation == "COUNT":
        return {name: len(values)}
    if not all(feel.is_number(value) for value in values):
        raise DecisionError(f"decision '{decision.id}': COLLECT {decision.aggregation} needs numbers, got {values}",
                            decision.file, decision.id)
    function = {"SUM": sum, "MIN": min, "MAX": max}[decision.aggregation]
    return {name: function(values) if values else None}


# --- camunda:mapDecisionResult ---------------------------------------------------

def _result_list(result: DecisionResult) -> list[dict]:
    """The result as Camunda's list of rule results (an aggregation is one entry)."""
    if isinstance(result.value, dict):
        return [result.value]
    if result.value is None:
        return []
    return list(result.value)


def map_result(result: DecisionResult, mode: str | None) -> Any:
    """Shape a result as camunda:mapDecisionResult says (default resultList)."""
    mode = mode or "resultList"
    if mode not in MAP_MODES:
        raise DecisionError(f"mapDecisionResult '{mode}' is not one of {', '.join(MAP_MODES)}",
                            element_id=result.decision_id)
    entries = _result_list(result)
    if mode == "resultList":
        return [dict(entry) for entry in entries]
    if mode == "collectEntries":
        return [_single_entry(result, entry, mode) for entry in entries]
    if len(entries) > 1:
        raise DecisionError(f"decision '{result.decision_id}': mapDecisionResult '{mode}' needs at most one "
                            f"matching rule, but rows {', '.join(map(str, result.matched_rows))} matched",
                            element_id=result.decision_id)
    if not entries:
        return None
    return dict(entries[0]) if mode == "singleResult" else _single_entry(result, entries[0], mode)


def _single_entry(result: DecisionResult, entry: dict, mode: str) -> Any:
    if len(entry) != 1:
        raise DecisionError(f"decision '{result.decision_id}': mapDecisionResult '{mode}' needs exactly one output "
                            f"per rule, but the result has {', '.join(entry) or 'none'}",
                            element_id=result.decision_id)
    return next(iter(entry.values()))
