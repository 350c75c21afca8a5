import pytest

from adapters import ContractError, Field, Operation, validate_inputs, validate_outputs

OP = Operation("pay", [Field("amount", "number"), Field("count", "integer"), Field("note", "string", required=False),
                       Field("flag", "boolean", required=False), Field("meta", "object", required=False),
                       Field("lines", "array", required=False)],
               [Field("payment_id", "string")], "test")


def test_keeps_only_declared_fields():
    assert validate_inputs(OP, {"amount": 1.5, "count": 2, "extra": "x", "lines": []}) == \
        {"amount": 1.5, "count": 2, "lines": []}


def test_missing_required_names_the_field():
    with pytest.raises(ContractError, match="'count' is required"):
        validate_inputs(OP, {"amount": 1})


@pytest.mark.parametrize("name,value", [("amount", "10"), ("amount", True), ("count", 2.5), ("count", False),
                                        ("note", 3), ("flag", 1), ("meta", []), ("lines", {})])
def test_wrong_type_names_the_field_not_the_value(name, value):
    inputs = {"amount": 1, "count": 1, name: value}
    with pytest.raises(ContractError, match=f"'{name}' must be") as caught:
        validate_inputs(OP, inputs)
    assert repr(value) not in str(caught.value)


def test_optional_may_be_absent_or_null():
    assert validate_inputs(OP, {"amount": 1, "count": 1, "note": None}) == {"amount": 1, "count": 1, "note": None}


def test_outputs_are_validated_the_same_way():
    assert validate_outputs(OP, {"payment_id": "P1", "other": 1}) == {"payment_id": "P1"}
    with pytest.raises(ContractError, match="output 'payment_id'"):
        validate_outputs(OP, {})
    with pytest.raises(ContractError, match="outputs must be an object"):
        validate_outputs(OP, ["P1"])


def test_field_type_is_checked():
    with pytest.raises(ValueError, match="unknown type"):
        Field("x", "date")
