"""DMN decision tables: safe parsing, compile errors at deploy time, hit policies, result mapping."""
import pytest

from runner.engine.dmn import DecisionError, evaluate, map_result, parse_dmn

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMN11 = "http://www.omg.org/spec/DMN/20151101/dmn.xsd"


def table(rules, *, hit_policy="UNIQUE", aggregation=None, inputs=(("amount", "number"),),
          outputs=(("result", "string", None),), namespace=DMN13, decision_id="d1"):
    """Build a one-decision DMN file; rules are (input entries, output entries) tuples."""
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    cols = "".join(f'<input id="in{i}" label="{expr}"><inputExpression typeRef="{t}"><text>{expr}</text>'
                   f'</inputExpression></input>' for i, (expr, t) in enumerate(inputs))
    outs = "".join(f'<output id="out{i}" name="{name}" typeRef="{t}">'
                   + (f"<outputValues><text>{values}</text></outputValues>" if values else "") + "</output>"
                   for i, (name, t, values) in enumerate(outputs))
    rows = "".join(f'<rule id="Rule_{n}">'
                   + "".join(f"<inputEntry><text>{_x(e)}</text></inputEntry>" for e in ins)
                   + "".join(f"<outputEntry><text>{_x(e)}</text></outputEntry>" for e in outs_)
                   + "</rule>" for n, (ins, outs_) in enumerate(rules, start=1))
    return (f'<?xml version="1.0" encoding="UTF-8"?><definitions xmlns="{namespace}" id="defs" name="t" '
            f'namespace="http://camunda.org/schema/1.0/dmn"><decision id="{decision_id}" name="Decision 1">'
            f'<decisionTable id="t1" hitPolicy="{hit_policy}"{agg}>{cols}{outs}{rows}</decisionTable>'
            f'</decision></definitions>').encode()


def _x(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def decide(data, variables, filename="t.dmn"):
    [decision] = parse_dmn(data, filename)
    return evaluate(decision, variables)


REFUND_RULES = [(["< 250"], ['"auto"']), (["[250..1000]"], ['"manager"']), (["> 1000"], ['"director"'])]


# --- parsing -----------------------------------------------------------------

def test_parse_builds_decision():
    [decision] = parse_dmn(table(REFUND_RULES, hit_policy="FIRST"), "refund.dmn")
    assert (decision.id, decision.name, decision.hit_policy, decision.aggregation) == ("d1", "Decision 1", "FIRST", None)
    assert [(i.id, i.expression, i.type_ref) for i in decision.inputs] == [("in0", "amount", "number")]
    assert [(o.name, o.type_ref) for o in decision.outputs] == [("result", "string")]
    assert [(r.id, r.row, r.input_entries, r.output_entries) for r in decision.rules] == [
        ("Rule_1", 1, ["< 250"], ['"auto"']), ("Rule_2", 2, ["[250..1000]"], ['"manager"']),
        ("Rule_3", 3, ["> 1000"], ['"director"'])]


@pytest.mark.parametrize("namespace", [DMN11, "http://www.omg.org/spec/DMN/20180521/MODEL/", DMN13])
def test_older_namespaces_are_accepted(namespace):
    assert decide(table(REFUND_RULES, namespace=namespace), {"amount": 300}).value == {"result": "manager"}


def test_bad_input_entry_names_file_decision_and_rule():
    data = table([(["< 250"], ['"auto"']), (["[1.."], ['"x"'])])
    with pytest.raises(DecisionError) as info:
        parse_dmn(data, "refund_approval.dmn")
    assert str(info.value) == "refund_approval.dmn: decision 'd1' rule 'Rule_2' input entry '[1..': unterminated interval"
    assert (info.value.file, info.value.element_id) == ("refund_approval.dmn", "Rule_2")


def test_bad_output_entry_fails_at_parse_time():
    with pytest.raises(DecisionError, match="rule 'Rule_1' output entry '__import__\\(\"os\"\\)'.*not allowed"):
        parse_dmn(table([(["-"], ['__import__("os")'])]), "t.dmn")


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d"><decision id="x">&xxe;</decision></definitions>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/">&lol2;</definitions>"""


@pytest.mark.parametrize("data", [XXE, BILLION_LAUGHS, b'<!doctype html><definitions/>'])
def test_doctype_is_rejected(data):
    with pytest.raises(DecisionError, match="evil.dmn: DOCTYPE and ENTITY declarations are not allowed"):
        parse_dmn(data, "evil.dmn")


@pytest.mark.parametrize("data, message", [
    (b"<definitions", "not well-formed XML"),
    (b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>', "not a DMN file"),
    (f'<definitions xmlns="{DMN13}"/>'.encode(), "no decision found"),
    (f'<definitions xmlns="{DMN13}"><decision id="lit"><literalExpression><text>1</text></literalExpression>'
     f'</decision></definitions>'.encode(), "decision 'lit': only decision tables are supported"),
])
def test_invalid_files(data, message):
    with pytest.raises(DecisionError, match=message):
        parse_dmn(data, "x.dmn")


@pytest.mark.parametrize("kwargs, rules, message", [
    ({"hit_policy": "SOMETIMES"}, REFUND_RULES, "hit policy 'SOMETIMES' is not one of"),
    ({"hit_policy": "FIRST", "aggregation": "SUM"}, REFUND_RULES, "aggregation 'SUM' needs hit policy COLLECT"),
    ({"hit_policy": "PRIORITY"}, REFUND_RULES, "PRIORITY needs output values"),
    ({}, [(["< 1", "2"], ['"x"'])], "has 2 input and 1 output entries, the table has 1 and 1 columns"),
])
def test_invalid_tables(kwargs, rules, message):
    with pytest.raises(DecisionError, match=message):
        parse_dmn(table(rules, **kwargs), "x.dmn")


# --- hit policies ----------------------------------------------------------------

def test_unique():
    result = decide(table(REFUND_RULES), {"amount": 1200})
    assert (result.matched_rows, result.matched_rule_ids) == ([3], ["Rule_3"])
    assert result.outputs == [{"result": "director"}]
    assert result.value == {"result": "director"}


def test_unique_with_no_match():
    result = decide(table(REFUND_RULES), {"amount": None})
    assert (result.matched_rows, result.outputs, result.value) == ([], [], None)


def test_unique_with_two_matches_names_the_rows():
    rules = [(["< 500"], ['"a"']), (["> 100"], ['"b"'])]
    with pytest.raises(DecisionError, match=r"hit policy UNIQUE but rows 1 \(Rule_1\), 2 \(Rule_2\) matched"):
        decide(table(rules), {"amount": 300})


def test_first():
    rules = [(["> 100"], ['"big"']), (["> 10"], ['"medium"']), (["-"], ['"small"'])]
    result = decide(table(rules, hit_policy="FIRST"), {"amount": 50})
    assert (result.matched_rows, result.value) == ([2], {"result": "medium"})


PRIORITY_OUTPUTS = (("level", "string", '"high","medium","low"'),)


def test_priority_uses_output_values_order():
    rules = [(["> 0"], ['"low"']), (["> 100"], ['"high"']), (["> 10"], ['"medium"'])]
    result = decide(table(rules, hit_policy="PRIORITY", outputs=PRIORITY_OUTPUTS), {"amount": 500})
    assert (result.matched_rows, result.value) == ([2], {"level": "high"})
    result = decide(table(rules, hit_policy="PRIORITY", outputs=PRIORITY_OUTPUTS), {"amount": 50})
    assert (result.matched_rows, result.value) == ([3], {"level": "medium"})


def test_priority_rejects_value_outside_output_values():
    rules = [(["> 0"], ['"urgent"'])]
    with pytest.raises(DecisionError, match="output 'level' value 'urgent' is not one of its output values"):
        decide(table(rules, hit_policy="PRIORITY", outputs=PRIORITY_OUTPUTS), {"amount": 5})


def test_any_with_equal_outputs():
    rules = [(["> 0"], ['"ok"']), (["< 100"], ['"ok"']), (["> 1000"], ['"no"'])]
    result = decide(table(rules, hit_policy="ANY"), {"amount": 50})
    assert (result.matched_rows, result.value) == ([1], {"result": "ok"})


def test_any_with_different_outputs_fails():
    rules = [(["> 0"], ['"ok"']), (["< 100"], ['"no"'])]
    with pytest.raises(DecisionError, match=r"hit policy ANY but rows 1 \(Rule_1\), 2 \(Rule_2\) matched with different"):
        decide(table(rules, hit_policy="ANY"), {"amount": 50})


COLLECT_RULES = [(["> 0"], ["10"]), (["> 100"], ["5"]), (["> 1000"], ["1"]), (["> 10"], ["20"])]
NUMBER_OUT = (("points", "number", None),)


def test_collect_without_aggregation_keeps_rule_order():
    result = decide(table(COLLECT_RULES, hit_policy="COLLECT", outputs=NUMBER_OUT), {"amount": 500})
    assert result.matched_rows == [1, 2, 4]
    assert result.value == [{"points": 10}, {"points": 5}, {"points": 20}]
    assert result.outputs == result.value


@pytest.mark.parametrize("aggregation, expected, empty", [("SUM", 35, None), ("MIN", 5, None), ("MAX", 20, None),
                                                          ("COUNT", 3, 0)])
def test_collect_aggregations(aggregation, expected, empty):
    data = table(COLLECT_RULES, hit_policy="COLLECT", aggregation=aggregation, outputs=NUMBER_OUT)
    result = decide(data, {"amount": 500})
    assert result.matched_rows == [1, 2, 4]
    assert result.value == {"points": expected}
    assert map_result(result, "singleEntry") == expected
    assert decide(data, {"amount": -1}).value == {"points": empty}


def test_collect_sum_of_strings_fails():
    data = table([(["-"], ['"a"'])], hit_policy="COLLECT", aggregation="SUM")
    with pytest.raises(DecisionError, match="COLLECT SUM needs numbers"):
        decide(data, {"amount": 1})


def test_rule_order():
    rules = [(["> 10"], ['"b"']), (["> 0"], ['"a"']), (["> 1000"], ['"c"'])]
    result = decide(table(rules, hit_policy="RULE ORDER"), {"amount": 50})
    assert result.matched_rows == [1, 2]
    assert result.value == [{"result": "b"}, {"result": "a"}]


def test_output_order_sorts_by_output_values():
    rules = [(["> 0"], ['"low"']), (["> 100"], ['"high"']), (["> 10"], ['"medium"']), (["> 1"], ['"high"'])]
    result = decide(table(rules, hit_policy="OUTPUT ORDER", outputs=PRIORITY_OUTPUTS), {"amount": 500})
    assert result.matched_rows == [2, 4, 3, 1]
    assert [o["level"] for o in result.value] == ["high", "high", "medium", "low"]


# --- the site-rules pattern -------------------------------------------------------

SITE_RULES = table([
    (['"NORTH"', "< 500"], ['"north-clerks"', "false"]),
    (['"NORTH"', "-"], ['"north-managers"', "true"]),
    (['"SOUTH", "EAST"', "[0..1000)"], ['"coastal-ap"', "false"]),
    (["-", "< 250"], ['"ap-clerks"', "false"]),
    (["-", "-"], ['"ap-managers"', "true"]),
], hit_policy="FIRST", inputs=(("site", "string"), ("invoice.amount", "number")),
    outputs=(("approverGroup", "string", None), ("needsReview", "boolean", None)), decision_id="site_rules")


@pytest.mark.parametrize("site, amount, group, review, row", [
    ("NORTH", 100, "north-clerks", False, 1),
    ("NORTH", 5000, "north-managers", True, 2),
    ("SOUTH", 999.5, "coastal-ap", False, 3),
    ("EAST", 1000, "ap-managers", True, 5),
    ("WEST", 100, "ap-clerks", False, 4),
    ("WEST", 300, "ap-managers", True, 5),
    (None, None, "ap-managers", True, 5),
])
def test_site_rules_site_rows_first_then_enterprise_default(site, amount, group, review, row):
    [decision] = parse_dmn(SITE_RULES, "site_rules.dmn")
    result = evaluate(decision, {"site": site, "invoice": {"amount": amount}})
    assert result.matched_rows == [row]
    assert result.value == {"approverGroup": group, "needsReview": review}
    assert map_result(result, "singleResult") == {"approverGroup": group, "needsReview": review}


# --- types -----------------------------------------------------------------------

def test_typed_inputs_and_outputs_are_coerced():
    data = table([(["> 100"], ["1", '"true"', "3.0", "7"]), (["-"], ["2", "false", "4", "8"])],
                 hit_policy="FIRST", inputs=(("amount", "integer"),),
                 outputs=(("n", "double", None), ("flag", "boolean", None), ("count", "integer", None),
                          ("label", "string", None)))
    value = decide(data, {"amount": "150"}).value
    assert value == {"n": 1.0, "flag": True, "count": 3, "label": "7"}
    assert isinstance(value["n"], float) and isinstance(value["count"], int)
    assert decide(data, {"amount": 99}).value == {"n": 2.0, "flag": False, "count": 4, "label": "8"}


def test_output_type_mismatch_fails():
    data = table([(["-"], ["2.5"])], outputs=(("count", "integer", None),))
    with pytest.raises(DecisionError, match="rule 'Rule_1' output 'count': 2.5 is not of type integer"):
        decide(data, {"amount": 1})


def test_input_type_mismatch_fails():
    with pytest.raises(DecisionError, match="input 'amount': 'lots' is not of type number"):
        decide(table(REFUND_RULES), {"amount": "lots"})


def test_output_expression_can_use_variables():
    data = table([(["-"], ["amount * 2"])], outputs=(("double", "number", None),))
    assert decide(data, {"amount": 21}).value == {"double": 42}


# --- camunda:mapDecisionResult ----------------------------------------------------

def multi_result():
    rules = [(["> 0"], ['"a"', "1"]), (["> 10"], ['"b"', "2"])]
    return decide(table(rules, hit_policy="RULE ORDER", outputs=(("x", "string", None), ("y", "number", None))),
                  {"amount": 50})


def test_map_result_modes():
    single = decide(table(REFUND_RULES), {"amount": 10})
    assert map_result(single, "singleEntry") == "auto"
    assert map_result(single, "singleResult") == {"result": "auto"}
    assert map_result(single, "collectEntries") == ["auto"]
    assert map_result(single, "resultList") == [{"result": "auto"}]
    assert map_result(single, None) == [{"result": "auto"}]
    many = multi_result()
    assert map_result(many, "resultList") == [{"x": "a", "y": 1}, {"x": "b", "y": 2}]


def test_map_result_with_no_match():
    empty = decide(table(REFUND_RULES), {"amount": None})
    assert map_result(empty, "singleEntry") is None
    assert map_result(empty, "singleResult") is None
    assert map_result(empty, "collectEntries") == []
    assert map_result(empty, "resultList") == []


@pytest.mark.parametrize("mode, message", [
    ("singleResult", r"'singleResult' needs at most one matching rule, but rows 1, 2 matched"),
    ("singleEntry", r"'singleEntry' needs at most one matching rule"),
    ("collectEntries", r"'collectEntries' needs exactly one output per rule, but the result has x, y"),
    ("everything", r"mapDecisionResult 'everything' is not one of"),
])
def test_map_result_wrong_cardinality(mode, message):
    with pytest.raises(DecisionError, match=message):
        map_result(multi_result(), mode)
