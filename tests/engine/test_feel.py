"""FEEL simple unary tests and literal outputs."""
from datetime import date, datetime
from decimal import Decimal

import pytest

from runner.engine.feel import FeelError, compile_literal, compile_unary_tests, parse_values


def matches(text, value, context=None):
    return compile_unary_tests(text)(value, context)


@pytest.mark.parametrize("text", ["-", "", "  ", " - "])
def test_dash_and_empty_match_anything(text):
    assert matches(text, 5) and matches(text, None) and matches(text, "x")


@pytest.mark.parametrize("text, value, expected", [
    ('"NORTH"', "NORTH", True),
    ('"NORTH"', "SOUTH", False),
    ('"say \\"hi\\""', 'say "hi"', True),
    ("5", 5, True),
    ("5", 5.0, True),
    ("5", "5", False),
    ("1.5", 1.5, True),
    ("-1.5", -1.5, True),
    ("true", True, True),
    ("true", 1, False),
    ("false", False, True),
    ("false", 0, False),
    ("null", None, True),
    ("null", 0, False),
    ("0.1", Decimal("0.1"), True),
])
def test_literals(text, value, expected):
    assert matches(text, value) is expected


@pytest.mark.parametrize("text, value, expected", [
    ("< 250", 249.99, True),
    ("< 250", 250, False),
    ("<= 250", 250, True),
    ("> 250", 251, True),
    ("> 250", 250, False),
    (">= 250", 250, True),
    ("!= \"X\"", "Y", True),
    ("!= \"X\"", "X", False),
    ("= 5", 5, True),
    ("= 5", 6, False),
    ("> -5", -4, True),
    ('< "m"', "a", True),
])
def test_comparisons(text, value, expected):
    assert matches(text, value) is expected


@pytest.mark.parametrize("text", ["< 250", ">= 250", "[1..5]", "!= \"X\"", "5", '"X"'])
def test_none_input_never_matches_and_never_raises(text):
    assert matches(text, None) is False


@pytest.mark.parametrize("text, value", [("< 250", "100"), ("> \"a\"", 5), ("[1..5]", "3"), ("< 5", True),
                                         ("!= 5", "x")])
def test_number_versus_string_is_false(text, value):
    assert matches(text, value) is False


@pytest.mark.parametrize("text, inside, low_edge, high_edge", [
    ("[250..1000]", 500, True, True),
    ("(250..1000]", 500, False, True),
    ("]250..1000]", 500, False, True),
    ("[250..1000)", 500, True, False),
    ("[250..1000[", 500, True, False),
    ("]250..1000[", 500, False, False),
    ("(250..1000)", 500, False, False),
])
def test_intervals(text, inside, low_edge, high_edge):
    test = compile_unary_tests(text)
    assert test(inside) is True
    assert test(250) is low_edge
    assert test(1000) is high_edge
    assert test(249) is False and test(1001) is False


def test_disjunction_with_commas_in_strings():
    test = compile_unary_tests('"A, B","C", < 5')
    assert test("A, B") and test("C") and test(4)
    assert not test("A") and not test(5)


@pytest.mark.parametrize("text, value, expected", [
    ('not("X","Y")', "Z", True),
    ('not("X","Y")', "X", False),
    ("not(< 5)", 7, True),
    ("not(< 5)", 3, False),
    ("not([1..3])", 2, False),
])
def test_negation(text, value, expected):
    assert matches(text, value) is expected


def test_variable_endpoints_resolve_from_context():
    context = {"limit": 100, "policy": {"min": 10, "max": 20}, "region": "NORTH"}
    assert matches("> limit", 150, context)
    assert not matches("> limit", 50, context)
    assert matches("[policy.min..policy.max]", 15, context)
    assert not matches("[policy.min..policy.max]", 25, context)
    assert matches("region", "NORTH", context)
    assert not matches("> missing", 5, context)


def test_date_endpoints():
    test = compile_unary_tests('[date("2026-01-01")..date("2026-12-31")]')
    assert test(date(2026, 6, 1))
    assert test("2026-06-01")
    assert test(datetime(2026, 6, 1, 12, 0))
    assert not test(date(2027, 1, 1))
    assert not test("not a date")
    assert compile_unary_tests('< date and time("2026-01-01T00:00:00")')(datetime(2025, 12, 31, 23, 0))


@pytest.mark.parametrize("text, problem", [
    ("[1..", "unterminated interval"),
    ("[1..5", "unterminated interval"),
    ("[..5]", "interval start is missing"),
    ("[1 5]", "expected '..' in interval"),
    ('"open', "unterminated string"),
    ("< ", "unexpected end of text"),
    ("not(1", "missing ')'"),
    ("1 2", "unexpected '2'"),
    ("a & b", "unexpected character '&'"),
    ('date("nope")', "'nope' is not a valid date"),
    ("1,", "a test is missing"),
])
def test_bad_syntax_fails_at_compile_time(text, problem):
    with pytest.raises(FeelError) as info:
        compile_unary_tests(text)
    assert problem in info.value.problem
    assert info.value.text == text.strip()
    assert text.strip() in str(info.value)


@pytest.mark.parametrize("text, context, expected", [
    ('"approve"', {}, "approve"),
    ("123", {}, 123),
    ("-1.5", {}, -1.5),
    ("true", {}, True),
    ("false", {}, False),
    ("null", {}, None),
    ("", {}, None),
    ("amount", {"amount": 7}, 7),
    ("invoice.amount", {"invoice": {"amount": 9}}, 9),
    ("invoice.missing", {"invoice": {}}, None),
    ("missing", {}, None),
    ("amount * 2", {"amount": 7}, 14),
    ("${amount > 5 && site == 'NORTH'}", {"amount": 7, "site": "NORTH"}, True),
])
def test_compile_literal(text, context, expected):
    assert compile_literal(text)(context) == expected


def test_compile_literal_rejects_unsafe_fallback():
    with pytest.raises(FeelError, match="not allowed"):
        compile_literal("__import__('os')")


def test_parse_values():
    assert parse_values('"low","medium", "high"') == ["low", "medium", "high"]
    assert parse_values("1, 2.5, -3") == [1, 2.5, -3]
    assert parse_values("") == []
