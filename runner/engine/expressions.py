"""Restricted evaluator for diagram expressions and scripts.

Conditions, scripts and mappings come from uploaded diagrams, so they run in a
Python subset: an AST whitelist (no imports, no definitions, no names or
attributes starting with '_'), whitelisted builtins, attribute access through
a safe helper, size guards on `*`, `**`, `<<` and `range`, and a time limit
checked on every traced line/call (sys.settrace) and on every loop iteration.
"""
from __future__ import annotations

import ast
import builtins
import copy
import re
import sys
import time
from datetime import date, datetime, time as dtime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

TIME_LIMIT = 1.0            # seconds per evaluate()/execute() call
MAX_POWER_EXPONENT = 10_000
MAX_SEQUENCE_ITEMS = 10_000_000
MAX_RANGE_ITEMS = 1_000_000
MAX_SHIFT = 100_000
MAX_SOURCE_CHARS = 100_000  # one condition, mapping or script


class ExpressionError(Exception):
    """An expression is invalid, forbidden, or failed while running."""

    def __init__(self, message: str, expression: str = ""):
        self.expression = expression
        super().__init__(message)


class _Timeout(BaseException):
    """Raised by the tracer; a BaseException so `except Exception` in a script cannot swallow it."""


# --- normalize: Camunda / JUEL flavour -> Python ----------------------------

_WORDS = {"true": "True", "false": "False", "null": "None",
          "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _strip_wrapper(text: str) -> str:
    """Remove one surrounding ${...} / #{...} when its closing brace ends the text."""
    text = text.strip()
    if len(text) >= 3 and text[0] in "$#" and text[1] == "{" and _closing_brace(text, 1) == len(text) - 1:
        return text[2:-1].strip()
    return text


def _closing_brace(text: str, start: int) -> int:
    """Index of the brace closing text[start], skipping string literals; -1 if none."""
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _string_end(text, i)
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return i
        i += 1
    return -1


def _string_end(text: str, i: int) -> int:
    """Index just past the string literal starting at text[i]."""
    quote = text[i] * 3 if text.startswith(text[i] * 3, i) else text[i]
    j = i + len(quote)
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text.startswith(quote, j):
            return j + len(quote)
        else:
            j += 1
    return len(text)


def normalize(text: str) -> str:
    """Translate the JUEL flavour (${..}, &&, ||, !, true/null, eq/lt...) to Python; Python passes unchanged."""
    text = _strip_wrapper(text or "")
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            j = _string_end(text, i)
        elif ch == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("&&", i) or text.startswith("||", i):
            out.append(" and " if ch == "&" else " or ")
            i += 2
            continue
        elif ch == "!" and not text.startswith("!=", i):
            out.append(" not ")
            i += 1
            continue
        elif ch.isalpha() or ch == "_":
            j = _IDENT.match(text, i).end()
            word = text[i:j]
            after_dot = "".join(out).rstrip().endswith(".") if word in _WORDS else False
            out.append(word if after_dot else _WORDS.get(word, word))
            i = j
            continue
        else:
            j = i + 1
        out.append(text[i:j])
        i = j
    return "".join(out).strip()


# --- static check ------------------------------------------------------------

_ALLOWED_NODES = tuple(getattr(ast, name) for name in (
    "Module", "Expression", "Expr", "Assign", "AugAssign", "For", "While", "If", "Break", "Continue",
    "Pass", "Try", "ExceptHandler", "Raise", "Assert", "Delete",
    "BoolOp", "BinOp", "UnaryOp", "Lambda", "IfExp", "Dict", "Set", "ListComp", "SetComp", "DictComp",
    "GeneratorExp", "Compare", "Call", "FormattedValue", "JoinedStr", "Constant", "Attribute",
    "Subscript", "Starred", "Name", "List", "Tuple", "Slice", "NamedExpr",
    "Load", "Store", "Del", "And", "Or", "Add", "Sub", "Mult", "Div", "FloorDiv", "Mod", "Pow",
    "LShift", "RShift", "BitOr", "BitXor", "BitAnd", "MatMult", "Invert", "Not", "UAdd", "USub",
    "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "Is", "IsNot", "In", "NotIn",
    "comprehension", "arguments", "arg", "keyword",
))

_FORBIDDEN_WORDS = {
    "Import": "imports are not allowed", "ImportFrom": "imports are not allowed",
    "FunctionDef": "function definitions are not allowed (use a lambda)",
    "AsyncFunctionDef": "function definitions are not allowed",
    "ClassDef": "class definitions are not allowed", "Global": "'global' is not allowed",
    "Nonlocal": "'nonlocal' is not allowed", "With": "'with' is not allowed",
    "AsyncWith": "'with' is not allowed", "AsyncFor": "'async' is not allowed",
    "Await": "'await' is not allowed", "Yield": "'yield' is not allowed", "YieldFrom": "'yield' is not allowed",
    "Return": "'return' is not allowed", "AnnAssign": "annotations are not allowed",
}


# builtins that reach the host or the interpreter: refused by name at deploy time (they are
# missing at run time anyway), so a diagram that tries them never deploys
_HOST_BUILTINS = frozenset(("open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "globals",
                            "locals", "vars", "input", "breakpoint", "help", "memoryview", "type", "object",
                            "super", "classmethod", "staticmethod", "property", "exit", "quit"))


def _forbidden_name(name: str) -> bool:
    return name.startswith("_") and name != "_"


def _check_node(node: ast.AST) -> str | None:
    """Return why `node` is not allowed, or None."""
    kind = type(node).__name__
    if kind in _FORBIDDEN_WORDS:
        return _FORBIDDEN_WORDS[kind]
    if not isinstance(node, _ALLOWED_NODES):
        return f"'{kind}' is not allowed in expressions"
    if isinstance(node, ast.Name) and _forbidden_name(node.id):
        return f"access to '{node.id}' is not allowed"
    if isinstance(node, ast.Name) and node.id in _HOST_BUILTINS and isinstance(node.ctx, ast.Load):
        return f"'{node.id}' is not available in expressions"
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            return f"access to '{node.attr}' is not allowed"
        if not isinstance(node.ctx, ast.Load):
            return f"assigning to attributes is not allowed (write x['{node.attr}'] = ...)"
    if isinstance(node, ast.arg) and _forbidden_name(node.arg):
        return f"access to '{node.arg}' is not allowed"
    if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
        return f"access to '{node.arg}' is not allowed"
    if isinstance(node, ast.ExceptHandler) and node.name and _forbidden_name(node.name):
        return f"access to '{node.name}' is not allowed"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = node.right
        if isinstance(exponent, ast.Constant) and isinstance(exponent.value, (int, float)) \
                and abs(exponent.value) > MAX_POWER_EXPONENT:
            return f"exponent {exponent.value} is too large (limit {MAX_POWER_EXPONENT})"
    return None


def _static_check(tree: ast.AST, source: str) -> None:
    for node in ast.walk(tree):
        problem = _check_node(node)
        if problem:
            where = f" (line {node.lineno}, col {node.col_offset + 1})" if hasattr(node, "lineno") else ""
            raise ExpressionError(problem + where, source)


# --- AST transform: route risky operations through helpers -----------------

_GETATTR, _BINOP, _TICK = "__lanes_getattr", "__lanes_binop", "__lanes_tick"
_GUARDED_OPS = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<"}


def _tick_call(node: ast.AST) -> ast.Call:
    return ast.copy_location(ast.Call(ast.Name(_TICK, ast.Load()), [], []), node)


class _Rewriter(ast.NodeTransformer):
    """`a.b` -> __lanes_getattr(a, 'b'); `a * b` -> __lanes_binop('*', a, b); bare except -> except Exception;
    every loop iteration calls __lanes_tick() (CPython 3.11 emits no trace event for `while True: pass`)."""

    def visit_While(self, node: ast.While) -> ast.AST:
        self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(_tick_call(node)), node))
        return node

    visit_For = visit_While

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs.insert(0, _tick_call(node.iter))
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        owner = ast.Constant(ast.unparse(node.value))  # names the value in "x has no field 'y'"
        self.generic_visit(node)
        call = ast.Call(ast.Name(_GETATTR, ast.Load()), [node.value, ast.Constant(node.attr), owner], [])
        return ast.copy_location(call, node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        symbol = _GUARDED_OPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(ast.Name(_BINOP, ast.Load()), [ast.Constant(symbol), node.left, node.right], [])
        return ast.copy_location(call, node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        symbol = _GUARDED_OPS.get(type(node.op))
        if symbol is None:
            return node
        load = _as_load(node.target)
        value = ast.Call(ast.Name(_BINOP, ast.Load()), [ast.Constant(symbol), load, node.value], [])
        return ast.copy_location(ast.Assign([node.target], value), node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        self.generic_visit(node)
        if node.type is None:
            node.type = ast.copy_location(ast.Name("Exception", ast.Load()), node)
        return node


def _as_load(target: ast.AST) -> ast.AST:
    """A Load-context copy of an augmented-assignment target (Name or Subscript)."""
    load = copy.deepcopy(target)
    load.ctx = ast.Load()
    return load


def _syntax_message(exc: SyntaxError) -> str:
    return f"syntax error: {exc.msg} (line {exc.lineno}, col {exc.offset or 1})"


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str):
    """Normalize, parse, check, rewrite and compile; cached."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    text = normalize(source)
    if not text:
        raise ExpressionError("expression is empty", source)
    if len(text) > MAX_SOURCE_CHARS:
        raise ExpressionError(f"expression is longer than {MAX_SOURCE_CHARS:,} characters", source)
    try:
        tree = ast.parse(text, mode=mode)
        _static_check(tree, source)
        tree = ast.fix_missing_locations(_Rewriter().visit(tree))
        return compile(tree, "<expression>", mode)
    except SyntaxError as exc:
        raise ExpressionError(_syntax_message(exc), source) from None
    except (RecursionError, MemoryError):  # the parser's and compiler's own depth limits
        raise ExpressionError("expression is nested too deeply", source) from None


def check(source: str, mode: str = "eval") -> None:
    """Raise ExpressionError unless `source` parses and passes the static check."""
    _compile(source, mode)


# --- runtime helpers ---------------------------------------------------------

_DICT_METHODS = frozenset(("get", "items", "keys", "values", "copy", "update", "pop", "setdefault", "clear"))
_ATTR_TYPES = (str, int, float, list, tuple, dict, set, frozenset, date, datetime, dtime, timedelta, Decimal)
_ATTR_CLASSES = (date, datetime, dtime, timedelta, Decimal)
_BLOCKED_ATTRS = frozenset(("format", "format_map"))  # str.format can walk attributes: "{0.__class__}"


def _safe_getattr(obj: Any, name: str, owner: str = "the value") -> Any:
    """Attribute read: dict keys first (Camunda style), then public attributes of plain data types."""
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
        if name in _DICT_METHODS:
            return getattr(obj, name)
        raise ExpressionError(f"{owner} has no field '{name}'")
    if name.startswith("_") or name in _BLOCKED_ATTRS:
        raise ExpressionError(f"access to '{name}' is not allowed")
    if not (isinstance(obj, _ATTR_TYPES) or any(obj is cls for cls in _ATTR_CLASSES)):
        raise ExpressionError(f"attribute access on {type(obj).__name__} values is not allowed")
    try:
        return getattr(obj, name)
    except AttributeError:
        raise ExpressionError(f"{owner} ({type(obj).__name__}) has no attribute '{name}'") from None


def _safe_binop(symbol: str, left: Any, right: Any) -> Any:
    if symbol == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
        return left * right
    if symbol == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > MAX_POWER_EXPONENT:
            raise ExpressionError(f"exponent {right} is too large (limit {MAX_POWER_EXPONENT})")
        return left ** right
    if isinstance(left, int) and isinstance(right, int) and right > MAX_SHIFT:
        raise ExpressionError(f"shift by {right} is too large (limit {MAX_SHIFT})")
    return left << right


def _check_repeat(seq: Any, count: Any) -> None:
    if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int) \
            and len(seq) * count > MAX_SEQUENCE_ITEMS:
        raise ExpressionError(f"result would have more than {MAX_SEQUENCE_ITEMS:,} items")


def _safe_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE_ITEMS:
        raise ExpressionError(f"range() is limited to {MAX_RANGE_ITEMS:,} items")
    return result


_BUILTIN_NAMES = ("abs all any bool dict divmod enumerate filter float int isinstance len list map max min "
                  "reversed round set sorted str sum tuple zip").split()
_EXCEPTIONS = (Exception, ValueError, KeyError, TypeError, IndexError, LookupError, ZeroDivisionError,
               ArithmeticError)

SAFE_BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in _BUILTIN_NAMES}
SAFE_BUILTINS.update({"range": _safe_range, "True": True, "False": False, "None": None,
                      "Decimal": Decimal, "datetime": datetime, "date": date, "timedelta": timedelta})
SAFE_BUILTINS.update({exc.__name__: exc for exc in _EXCEPTIONS})

_HELPERS = {_GETATTR: _safe_getattr, _BINOP: _safe_binop, _TICK: None, "__builtins__": SAFE_BUILTINS}


# --- running with a deadline -------------------------------------------------

def _run(code, namespace: dict, source: str, mode: str, limit: float):
    deadline = time.monotonic() + limit

    def tick():
        if time.monotonic() > deadline:
            raise _Timeout
        return True

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise _Timeout
        return tracer

    namespace[_TICK] = tick
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return eval(code, namespace) if mode == "eval" else exec(code, namespace)
    except _Timeout:
        raise ExpressionError(f"expression took longer than {limit} s", source) from None
    except ExpressionError as exc:
        exc.expression = exc.expression or source
        raise
    except NameError as exc:
        raise ExpressionError(_name_message(exc), source) from None
    except Exception as exc:  # the diagram's own error: report it in plain words
        raise ExpressionError(f"{type(exc).__name__}: {exc}", source) from None
    finally:
        sys.settrace(previous)


def _name_message(exc: NameError) -> str:
    name = getattr(exc, "name", None)
    return f"name '{name}' is not defined" if name else str(exc)


def _namespace(variables: dict, extra: dict | None) -> dict:
    return {**(extra or {}), **variables, **_HELPERS}


def evaluate(expression: str, variables: dict, extra: dict | None = None, *, limit: float = TIME_LIMIT) -> Any:
    """Evaluate one expression against `variables` (plus read-only `extra` names)."""
    code = _compile(expression, "eval")
    return _run(code, _namespace(variables, extra), expression, "eval", limit)


_KEEP_TYPES = (type(None), bool, int, float, str, list, tuple, dict, Decimal, date, datetime, dtime, timedelta)


def execute(script: str, variables: dict, extra: dict | None = None, *, limit: float = TIME_LIMIT) -> None:
    """Run a script; its assignments (data values only) and deletions update `variables` in place."""
    code = _compile(script, "exec")
    namespace = _namespace(variables, extra)
    _run(code, namespace, script, "exec", limit)
    extra = extra or {}
    for name in list(variables):
        if name not in namespace:
            del variables[name]
    for name, value in namespace.items():
        if name in _HELPERS or (name in extra and value is extra[name]) or not isinstance(value, _KEEP_TYPES):
            continue
        variables[name] = value


# --- SpiffWorkflow glue ------------------------------------------------------

class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment backed by the restricted evaluator."""

    def evaluate(self, expression, context, external_context=None):
        return evaluate(expression, context, {**self.globals, **(external_context or {})})

    def execute(self, script, context, external_context=None):
        execute(script, context, {**self.globals, **(external_context or {})})
        return True


class RestrictedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose validation is the restricted static check."""

    def __init__(self, environment=None):
        super().__init__(environment=environment or RestrictedEnvironment())

    def validate(self, expression):
        check(expression)


def make_script_engine() -> PythonScriptEngine:
    return RestrictedScriptEngine()
