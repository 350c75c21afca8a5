"""The restricted evaluator: JUEL normalization, hostile input, limits, SpiffWorkflow glue."""
import sys
import time
from datetime import date
from decimal import Decimal

import pytest
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from runner.engine import expressions
from runner.engine.expressions import ExpressionError, check, evaluate, execute, normalize


@pytest.mark.parametrize("text, expected", [
    ("${amount > 100}", "amount > 100"),
    ("#{ approved }", "approved"),
    ("${a && b || !c}", "a  and  b  or   not c"),
    ("a != b", "a != b"),
    ("${x == true && y == null}", "x == True  and  y == None"),
    ("${a eq 1 || b ne 2 && c lt 3 && d gt 4 && e le 5 && f ge 6}",
     "a == 1  or  b != 2  and  c < 3  and  d > 4  and  e <= 5  and  f >= 6"),
    ("${note == 'a && !b || true'}", "note == 'a && !b || true'"),
    ('x == "say \\"true\\" && stop"', 'x == "say \\"true\\" && stop"'),
    ("${a} + ${b}", "${a} + ${b}"),
    ("total = sum(items)  # don't && touch", "total = sum(items)  # don't && touch"),
    ("d.true", "d.true"),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("expression, variables, expected", [
    ("${amount > 100 && site == 'NORTH'}", {"amount": 150, "site": "NORTH"}, True),
    ("${amount > 100 && site == 'NORTH'}", {"amount": 50, "site": "NORTH"}, False),
    ("${!approved}", {"approved": False}, True),
    ("${approval.approverGroup}", {"approval": {"approverGroup": "finance"}}, "finance"),
    ("invoice.lines[1].amount", {"invoice": {"lines": [{"amount": 1}, {"amount": 2}]}}, 2),
    ("data.get('missing', 7)", {"data": {}}, 7),
    ("name.upper()", {"name": "ap"}, "AP"),
    ("sorted(xs, key=lambda x: -x)", {"xs": [1, 3, 2]}, [3, 2, 1]),
    ("[x * 2 for x in xs if x > 1]", {"xs": [1, 2, 3]}, [4, 6]),
    ("sum(x for x in range(5))", {}, 10),
    ("date(2026, 1, 31) + timedelta(days=1)", {}, date(2026, 2, 1)),
    ("Decimal('1.10') + Decimal('2.20')", {}, Decimal("3.30")),
    ("due.year", {"due": date(2026, 5, 1)}, 2026),
    ("limit * 2 ** 3", {"limit": 5}, 40),
    ("'ab' * 3", {}, "ababab"),
    ("${amount eq 5}", {"amount": 5}, True),
    ("x is None", {"x": None}, True),
])
def test_evaluate(expression, variables, expected):
    assert evaluate(expression, variables) == expected


def test_extra_names_are_visible_but_variables_win():
    assert evaluate("a + b", {"a": 1}, {"a": 100, "b": 2}) == 3


@pytest.mark.parametrize("expression, message", [
    ("__import__('os').system('id')", "access to '__import__' is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", "is not allowed"),
    ("open('/etc/passwd').read()", "'open' is not available"),
    ("[x for x in ().__class__.__mro__]", "access to '__mro__' is not allowed"),
    ("exec('1')", "'exec' is not available"),
    ("eval('1')", "'eval' is not available"),
    ("getattr(x, 'real')", "'getattr' is not available"),
    ("type(x)", "'type' is not available"),
    ("globals()", "'globals' is not available"),
    ("compile('1', 'f', 'eval')", "'compile' is not available"),
    ("vars()", "'vars' is not available"),
    ("'{0.__class__}'.format(x)", "access to 'format' is not allowed"),
    ("(lambda: 1).func_code", "attribute access on function values is not allowed"),
    ("(y for y in []).gi_frame", "attribute access on generator values is not allowed"),
    ("__builtins__", "access to '__builtins__' is not allowed"),
    ("_private", "access to '_private' is not allowed"),
    ("x._secret", "access to '_secret' is not allowed"),
    ("foo + 1", "name 'foo' is not defined"),
])
def test_hostile_or_wrong_expressions_fail(expression, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        evaluate(expression, {"x": 1})
    assert info.value.expression == expression


@pytest.mark.parametrize("script, message", [
    ("import os", "imports are not allowed"),
    ("from os import system", "imports are not allowed"),
    ("def f():\n    pass", "function definitions are not allowed"),
    ("class A:\n    pass", "class definitions are not allowed"),
    ("global x\nx = 1", "'global' is not allowed"),
    ("with open('x') as f:\n    pass", "'with' is not allowed"),
    ("x.field = 1", "assigning to attributes is not allowed"),
    ("x = (yield 1)", "'yield' is not allowed"),
    ("async def f():\n    pass", "function definitions are not allowed"),
    ("x = 10 ** 100000", "exponent 100000 is too large"),
    ("if x\n    y = 1", "syntax error"),
])
def test_check_rejects_forbidden_statements(script, message):
    with pytest.raises(ExpressionError, match=message):
        check(script, "exec")


def test_hostile_script_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(ExpressionError):
        execute(f"__import__('os').system('touch {target}')", {})
    with pytest.raises(ExpressionError):
        execute(f"open('{target}', 'w').write('x')", {})
    assert not target.exists()


def test_syntax_error_names_line_and_column():
    with pytest.raises(ExpressionError, match=r"syntax error: .*\(line 2, col \d+\)"):
        check("x = 1\ny = = 2", "exec")


def test_missing_dict_field_names_the_value():
    with pytest.raises(ExpressionError, match="approval has no field 'approverGroup'"):
        evaluate("${approval.approverGroup}", {"approval": {"approved": True}})


@pytest.mark.parametrize("script", [
    "while True: pass",
    "while True:\n    try:\n        x = 1\n    except:\n        pass",
    "while True:\n    try:\n        x = 1\n    except Exception:\n        pass",
    "x = [y for a in range(10**6) for y in range(10**6)]",
    "x = list(map(lambda a: sum(map(lambda b: b, range(10**6))), range(10**6)))",
    "try:\n    pass\nfinally:\n    while True: pass",
])
def test_time_limit_stops_runaway_scripts(script):
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"expression took longer than 0.2 s"):
        execute(script, {}, limit=0.2)
    assert time.monotonic() - started < 1.5


def test_default_time_limit_is_one_second():
    started = time.monotonic()
    with pytest.raises(ExpressionError, match=r"expression took longer than 1.0 s"):
        execute("while True: pass", {})
    assert 0.9 < time.monotonic() - started < 2.5


def test_previous_trace_function_is_restored():
    def tracer(frame, event, arg):
        return None
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        evaluate("1 + 1", {})
        with pytest.raises(ExpressionError):
            execute("while True: pass", {}, limit=0.05)
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


@pytest.mark.parametrize("expression, message", [
    ("'a' * 10_000_001", "more than 10,000,000 items"),
    ("[0] * n * n", "more than 10,000,000 items"),
    ("n ** 20000", "exponent 20000 is too large"),
    ("1 << 10 ** 6", "shift by 1000000 is too large"),
    ("range(2_000_000)", "range\\(\\) is limited to 1,000,000 items"),
])
def test_memory_bombs_are_rejected(expression, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, {"n": 10_000})


def test_augmented_repeat_is_guarded():
    with pytest.raises(ExpressionError, match="more than 10,000,000 items"):
        execute("s = 'abc'\ns *= 10_000_000", {})


def test_runtime_errors_become_expression_errors():
    with pytest.raises(ExpressionError, match="ZeroDivisionError: division by zero"):
        evaluate("1 / zero", {"zero": 0})


def test_execute_updates_variables_with_data_only():
    variables = {"items": [1, 2, 3], "old": 1}
    execute("total = sum(items)\nf = lambda x: x\nr = range(3)\nd = date(2026, 1, 1) + timedelta(days=2)\n"
            "del old\nfor _ in items:\n    total += 1\ncheap = total < 100 and True", variables)
    assert variables == {"items": [1, 2, 3], "total": 9, "d": date(2026, 1, 3), "_": 3, "cheap": True}


def test_execute_does_not_copy_extra_names_back():
    variables = {"a": 1}
    execute("b = a + offset", variables, {"offset": 10, "helper": len})
    assert variables == {"a": 1, "b": 11}


def test_script_try_except_still_works():
    variables = {}
    execute("try:\n    x = 1 / 0\nexcept ZeroDivisionError:\n    x = -1", variables)
    assert variables == {"x": -1}


def test_compilation_is_cached():
    expressions._compile.cache_clear()
    for amount in range(50):
        evaluate("amount > 10", {"amount": amount})
    assert expressions._compile.cache_info().misses == 1


def test_evaluation_is_fast():
    started = time.perf_counter()
    for amount in range(5000):
        evaluate("amount > 100 and site == 'NORTH'", {"amount": amount, "site": "NORTH"})
    assert time.perf_counter() - started < 1.0


# --- SpiffWorkflow glue -------------------------------------------------------

def test_restricted_environment_delegates():
    env = expressions.RestrictedEnvironment()
    context = {"a": 2}
    assert env.evaluate("a * 3", context) == 6
    assert env.execute("b = a + 1", context) is True
    assert context == {"a": 2, "b": 3}
    with pytest.raises(ExpressionError):
        env.evaluate("__import__('os')", context)


def test_make_script_engine_validates_with_check():
    engine = expressions.make_script_engine()
    assert isinstance(engine, PythonScriptEngine)
    assert isinstance(engine.environment, expressions.RestrictedEnvironment)
    engine.validate("${amount > 5}")
    with pytest.raises(ExpressionError, match="imports are not allowed|access to '__import__'"):
        engine.validate("__import__('os')")


GATEWAY_BPMN = b'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
<bpmn:process id="p" isExecutable="true">
<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="script"/>
<bpmn:scriptTask id="script" scriptFormat="python"><bpmn:script>total = amount * 2
label = "big" if total > 100 else "small"</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="gw"/>
<bpmn:exclusiveGateway id="gw" default="f4"/>
<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="big">
  <bpmn:conditionExpression>${total &gt; 100 &amp;&amp; !skip}</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="small"/>
<bpmn:endEvent id="big"/><bpmn:endEvent id="small"/>
</bpmn:process></bpmn:definitions>'''


@pytest.mark.parametrize("amount, end, label", [(10, "small", "small"), (100, "big", "big")])
def test_spiffworkflow_runs_scripts_and_juel_conditions(amount, end, label):
    from lxml import etree
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_xml(etree.fromstring(GATEWAY_BPMN), filename="gateway.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("p"), script_engine=expressions.make_script_engine())
    for task in workflow.get_tasks():
        task.data.update({"amount": amount, "skip": False})
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.data["label"] == label
    completed = {t.task_spec.name for t in workflow.get_tasks(state=TaskState.COMPLETED)}
    assert end in completed and ({"big", "small"} - {end}).isdisjoint(completed)
