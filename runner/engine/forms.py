"""Camunda Forms (form-js JSON schema): load a `.form` file and validate a submission on the server.

The browser runs form-js for the user; this module is what the engine trusts. It decides which keys may
enter a process instance, coerces values to their types and reports errors per field key.

Supported on purpose, deliberately small:
- input components: textfield, textarea, number, checkbox, checklist, radio, select, taglist, datetime
  (subtype date / time / datetime), filepicker (its value is a string reference), expression (its value is
  computed in the browser and never accepted from a submission);
- containers: group (optional `path` = nested object), dynamiclist (`path` = a list of rows of its children);
- components with no value: text, html, spacer, separator, image, iframe, button, table, documentPreview.
- `key` may be dotted (`a.b`) meaning a nested object; a submission may send it nested or flat.

Choices worth knowing:
- Disabled, read-only and expression fields are dropped from a submission (no error: form-js sends some of
  them back), so a user cannot set them.
- `conditional: {hide: "=..."}` is not evaluated (it is FEEL). A field that may be hidden is validated when
  a value is sent, but its `required` is not enforced, since the user may not have seen it.
- `readonly: "=expr"` (an expression) cannot be evaluated here either; such fields are treated as editable.
- Patterns use search semantics, as form-js does with `RegExp.test`.
- Options given as `valuesExpression` (FEEL) are a definition error: use `values` or `valuesKey`.
- A field (or dynamic list) whose custom properties (form-js editor: "Custom properties") hold
  `"sensitive": "true"` is marked `sensitive`; `Form.sensitive_keys()` lists their key paths. The engine
  only reads the marking: the audit trail (services.instance_data) masks those variables' values.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from . import jsonsafe

__all__ = ["FormDefinitionError", "FormField", "Form", "load_form", "validate_submission"]

MAX_FORM_DEPTH = 64  # groups and dynamic lists nest; nothing real comes near this
_TEXT = {"textfield", "textarea", "filepicker"}
_CHOICE = {"radio", "select"}
_MULTI = {"checklist", "taglist"}
_INPUT = _TEXT | _CHOICE | _MULTI | {"number", "checkbox", "datetime", "expression"}
_NO_VALUE = {"text", "html", "spacer", "separator", "image", "iframe", "button", "table", "documentPreview"}
_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_EMAIL = re.compile(r"^[\w.+-]+@([\w-]+\.)+[\w-]{2,}$")
_PHONE = re.compile(r"^(\+|00)[1-9][0-9 ()-]{5,20}$")
_MISSING = object()


class FormDefinitionError(Exception):
    """A `.form` file that cannot be used; the message names the file, the component and the problem."""

    def __init__(self, message: str, element_id: str | None = None):
        super().__init__(message)
        self.element_id = element_id


@dataclass
class FormField:
    key: str                      # dotted path relative to the form (or to a dynamiclist row)
    type: str
    label: str | None = None
    id: str | None = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    validation_type: str | None = None    # 'email' | 'phone' | None
    options: list | None = None           # static allowed values
    options_key: str | None = None        # variable holding the allowed values (form-js valuesKey)
    decimal_digits: int | None = None
    increment: Decimal | None = None
    serialize_to_string: bool = False     # number fields: value kept as a string
    subtype: str | None = None            # datetime: 'date' | 'time' | 'datetime'
    readonly: bool = False                # disabled, readonly or computed: never taken from a submission
    conditional: bool = False             # may be hidden by a form-js condition: `required` not enforced
    sensitive: bool = False               # custom property sensitive=true: its values are masked in the audit
    children: list[FormField] = field(default_factory=list)   # dynamiclist: the fields of one row

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))


@dataclass
class Form:
    id: str
    fields: list[FormField]
    schema: dict

    def field(self, key: str) -> FormField | None:
        return next((f for f in self.fields if f.key == key), None)

    def sensitive_keys(self) -> set[str]:
        """Dotted key paths of the fields marked sensitive; a dynamic list's row fields are under the
        list's path (`lines.iban`: the key `iban` in every row of the list `lines`)."""
        return _sensitive_keys(self.fields, "")


# ---------------------------------------------------------------- loading

def load_form(data: bytes | str, filename: str) -> Form:
    """Parse and check a form-js schema; raise FormDefinitionError naming the problem."""
    try:
        schema = jsonsafe.loads(data, MAX_FORM_DEPTH)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormDefinitionError(f"{filename}: not valid JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise FormDefinitionError(f"{filename}: a form must be a JSON object")
    form_id = schema.get("id")
    if not isinstance(form_id, str) or not form_id.strip():
        raise FormDefinitionError(f"{filename}: the form has no id")
    components = schema.get("components")
    if not isinstance(components, list):
        raise FormDefinitionError(f"{filename}: the form has no list of components", form_id)
    loader = _Loader(filename)
    fields = loader.scope(components, (), False)
    return Form(id=form_id, fields=fields, schema=schema)


class _Loader:
    def __init__(self, filename: str):
        self.filename = filename
        self.ids: set[str] = set()

    def fail(self, component: dict, problem: str):
        name = component.get("key") or component.get("path") or component.get("id") or component.get("type")
        raise FormDefinitionError(f"{self.filename}: component '{name}': {problem}", component.get("id"))

    def scope(self, components: list, prefix: tuple, conditional: bool) -> list[FormField]:
        """The fields of one scope (the form, or one dynamiclist row), duplicate keys rejected."""
        fields: list[FormField] = []
        self.walk(components, prefix, conditional, fields)
        paths: dict[tuple, FormField] = {}
        for f in fields:
            for other_path, other in paths.items():
                shorter = min(len(f.path), len(other_path))
                if f.path[:shorter] == other_path[:shorter]:
                    problem = ("duplicate key" if f.path == other_path
                               else f"key conflicts with '{other.key}' (one is nested inside the other)")
                    raise FormDefinitionError(f"{self.filename}: component '{f.key}': {problem}", f.id)
            paths[f.path] = f
        return fields

    def walk(self, components: list, prefix: tuple, conditional: bool, out: list[FormField]) -> None:
        for component in components:
            if not isinstance(component, dict):
                raise FormDefinitionError(f"{self.filename}: a component must be a JSON object")
            ctype = component.get("type")
            cid = component.get("id")
            if cid is not None:
                if cid in self.ids:
                    self.fail(component, f"duplicate id '{cid}'")
                self.ids.add(cid)
            hidden = conditional or bool((component.get("conditional") or {}).get("hide"))
            if ctype == "group":
                inner = prefix + self.path_of(component, "path", optional=True)
                self.walk(component.get("components") or [], inner, hidden, out)
            elif ctype == "dynamiclist":
                path = prefix + self.path_of(component, "path", optional=False)
                row = self.scope(component.get("components") or [], (), hidden)
                out.append(FormField(key=".".join(path), type="dynamiclist", label=component.get("label"),
                                     id=cid, readonly=_flag(component, "disabled") or _flag(component, "readonly"),
                                     conditional=hidden, children=row, sensitive=_marked_sensitive(component)))
            elif ctype in _INPUT:
                out.append(self.field(component, prefix + self.path_of(component, "key", optional=False), hidden))
            elif ctype in _NO_VALUE:
                continue
            else:
                self.fail(component, f"unsupported component type '{ctype}'")

    def path_of(self, component: dict, attr: str, optional: bool) -> tuple:
        value = component.get(attr)
        if value in (None, "") and optional:
            return ()
        if not isinstance(value, str) or not value:
            self.fail(component, f"has no {attr}")
        segments = tuple(value.split("."))
        for segment in segments:
            if not _SEGMENT.match(segment) or segment.startswith("__"):
                self.fail(component, f"{attr} '{value}' is not a valid variable name")
        return segments

    def field(self, c: dict, path: tuple, hidden: bool) -> FormField:
        validate = c.get("validate") or {}
        if not isinstance(validate, dict):
            self.fail(c, "validate must be an object")
        f = FormField(key=".".join(path), type=c["type"], label=c.get("label"), id=c.get("id"),
                      required=bool(validate.get("required")), conditional=hidden,
                      readonly=c["type"] == "expression" or _flag(c, "disabled") or _flag(c, "readonly"),
                      sensitive=_marked_sensitive(c))
        f.minimum = self.number(c, validate, "min")
        f.maximum = self.number(c, validate, "max")
        f.min_length = self.number(c, validate, "minLength")
        f.max_length = self.number(c, validate, "maxLength")
        for low, high, what in ((f.minimum, f.maximum, "min"), (f.min_length, f.max_length, "minLength")):
            if low is not None and high is not None and low > high:
                self.fail(c, f"{what} {low} is greater than the maximum {high}")
        vtype = validate.get("validationType")
        if vtype not in (None, "", "email", "phone", "custom"):
            self.fail(c, f"unknown validationType '{vtype}'")
        f.validation_type = vtype if vtype in ("email", "phone") else None
        pattern = validate.get("pattern")
        if pattern not in (None, ""):
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                self.fail(c, f"invalid pattern {pattern!r} ({exc})")
            f.pattern = pattern
        if f.type == "number":
            digits = c.get("decimalDigits")
            if digits is not None and (not isinstance(digits, int) or isinstance(digits, bool) or digits < 0):
                self.fail(c, "decimalDigits must be a whole number >= 0")
            f.decimal_digits = digits
            if c.get("increment") not in (None, ""):
                try:
                    f.increment = Decimal(str(c["increment"]))
                except InvalidOperation:
                    f.increment = None
                if f.increment is None or not f.increment.is_finite() or f.increment <= 0:
                    self.fail(c, f"increment {c['increment']!r} must be a positive number")
            f.serialize_to_string = bool(c.get("serializeToString"))
        if f.type == "datetime":
            f.subtype = c.get("subtype") or "date"
            if f.subtype not in ("date", "time", "datetime"):
                self.fail(c, f"unknown datetime subtype '{f.subtype}'")
        if f.type in _CHOICE | _MULTI:
            if c.get("valuesExpression"):
                self.fail(c, "valuesExpression is not supported; use static values or valuesKey")
            if c.get("valuesKey"):
                f.options_key = c["valuesKey"]
            elif f.type == "taglist" and c.get("values") is None:
                f.options = None
            else:
                values = c.get("values")
                if not isinstance(values, list) or not values:
                    self.fail(c, "needs a list of values or a valuesKey")
                f.options = [_option_value(v) for v in values]
        return f

    def number(self, c: dict, validate: dict, name: str):
        value = validate.get(name)
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(c, f"validate.{name} must be a number")
        return value


def _flag(component: dict, name: str) -> bool:
    value = component.get(name)
    return value is True   # an expression ("=...") cannot be evaluated here: treated as false


def _marked_sensitive(component: dict) -> bool:
    """form-js custom properties `{"sensitive": "true"}` (the editor writes strings; JSON true is accepted
    too, and the property name in any case: a marking typed as "Sensitive" still masks)."""
    properties = component.get("properties")
    if not isinstance(properties, dict):
        return False
    values = [v for k, v in properties.items() if isinstance(k, str) and k.strip().lower() == "sensitive"]
    return any(v is True or (isinstance(v, str) and v.strip().lower() == "true") for v in values)


def _sensitive_keys(fields: list[FormField], base: str) -> set[str]:
    keys: set[str] = set()
    for f in fields:
        if f.sensitive:
            keys.add(base + f.key)
        if f.children:
            keys |= _sensitive_keys(f.children, f"{base}{f.key}.")
    return keys


def _option_value(option: Any) -> Any:
    return option.get("value") if isinstance(option, dict) else option


# ---------------------------------------------------------------- validating

def validate_submission(form: Form, data: dict, variables: dict | None = None) -> tuple[dict, dict[str, str]]:
    """Check `data` against the form. Returns (clean values, nested by key path; errors by field key)."""
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        return {}, {"": "Form data must be an object"}
    clean = _validate_scope(form.fields, data, variables or {}, "", errors)
    return clean, errors


def _validate_scope(fields: list[FormField], data: dict, variables: dict, base: str,
                    errors: dict[str, str]) -> dict:
    index = {f.path: f for f in fields}
    prefixes = {f.path[:i] for f in fields for i in range(1, len(f.path))}
    provided: dict[tuple, Any] = {}

    def name(path: tuple) -> str:
        return base + ".".join(path)

    def walk(obj: dict, path: tuple) -> None:
        for key, value in obj.items():
            here = path + tuple(str(key).split("."))
            if here in index:
                provided[here] = value
            elif here in prefixes and isinstance(value, dict):
                walk(value, here)
            elif here in prefixes:
                errors[name(here)] = "Must be an object"
            else:
                errors[name(here)] = "Unknown field"

    walk(data, ())
    clean: dict = {}
    for f in fields:
        if f.readonly:
            continue
        value = provided.get(f.path, _MISSING)
        key = name(f.path)
        if f.type == "dynamiclist":
            result = _validate_list(f, value, variables, key, errors)
        else:
            result = _validate_value(f, value, variables, key, errors)
        if result is not _MISSING:
            _put(clean, f.path, result)
    return clean


def _put(target: dict, path: tuple, value: Any) -> None:
    for segment in path[:-1]:
        target = target.setdefault(segment, {})
    target[path[-1]] = value


def _validate_list(f: FormField, value: Any, variables: dict, key: str, errors: dict) -> Any:
    if value is None or value is _MISSING:
        if f.required and not f.conditional:
            errors[key] = "Required"
        return _MISSING
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        errors[key] = "Must be a list of rows"
        return _MISSING
    return [_validate_scope(f.children, row, variables, f"{key}[{i}].", errors) for i, row in enumerate(value)]


def _is_empty(f: FormField, value: Any) -> bool:
    return (value is _MISSING or value is None or value == "" or (isinstance(value, list) and not value)
            or (f.type == "checkbox" and value is False))


def _validate_value(f: FormField, value: Any, variables: dict, key: str, errors: dict) -> Any:
    if _is_empty(f, value):
        if f.required and not f.conditional:
            errors[key] = "Required"
            return _MISSING
        if value is _MISSING or value is None or (value == "" and f.type not in _TEXT):
            return _MISSING
    try:
        return _coerce(f, value, variables)
    except _Invalid as exc:
        errors[key] = str(exc)
        return _MISSING


class _Invalid(Exception):
    pass


def _coerce(f: FormField, value: Any, variables: dict) -> Any:
    if f.type in _TEXT:
        return _text(f, value)
    if f.type == "number":
        return _number(f, value)
    if f.type == "checkbox":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "on", "false"):
            return value.lower() != "false"
        raise _Invalid("Must be true or false")
    if f.type == "datetime":
        return _datetime(f, value)
    options = _options(f, variables)
    if f.type in _CHOICE:
        if isinstance(value, (list, dict)) or (options is not None and value not in options):
            raise _Invalid(_one_of(options))
        return value
    # checklist / taglist
    if not isinstance(value, list):
        raise _Invalid("Must be a list")
    result = []
    for item in value:
        if isinstance(item, (list, dict)) or (options is not None and item not in options):
            raise _Invalid(_one_of(options, each=True))
        if item not in result:
            result.append(item)
    return result


def _one_of(options: list | None, each: bool = False) -> str:
    if not options:
        return "No options are available"
    return ("Each value must be one of: " if each else "Must be one of: ") + ", ".join(str(o) for o in options)


def _options(f: FormField, variables: dict) -> list | None:
    if f.options_key is None:
        return f.options
    source: Any = variables
    for segment in f.options_key.split("."):
        source = source.get(segment) if isinstance(source, dict) else None
    if not isinstance(source, list):
        return []
    return [_option_value(o) for o in source]


def _text(f: FormField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("Must be text")
    if value == "":
        return value
    if f.min_length is not None and len(value) < f.min_length:
        raise _Invalid(f"Must be at least {f.min_length} characters")
    if f.max_length is not None and len(value) > f.max_length:
        raise _Invalid(f"Must be at most {f.max_length} characters")
    if f.validation_type == "email" and not _EMAIL.match(value):
        raise _Invalid("Must be a valid email")
    if f.validation_type == "phone" and not _PHONE.match(value.strip()):
        raise _Invalid("Must be a valid phone number in international format, e.g. +49 30 1234567")
    if f.pattern and not re.search(f.pattern, value):
        raise _Invalid(f"Must match pattern {f.pattern}")
    return value


def _number(f: FormField, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Invalid("Must be a number")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else repr(value) if isinstance(value, float)
                         else value)
    except InvalidOperation:
        raise _Invalid("Must be a number") from None
    if not number.is_finite():
        raise _Invalid("Must be a number")
    if number and number.adjusted() > 15:
        raise _Invalid("Must be a smaller number")
    if f.decimal_digits is not None and max(0, -number.normalize().as_tuple().exponent) > f.decimal_digits:
        raise _Invalid("Must be a whole number" if f.decimal_digits == 0
                       else f"Must have at most {f.decimal_digits} decimal digits")
    if f.minimum is not None and number < Decimal(str(f.minimum)):
        raise _Invalid(f"Must be at least {f.minimum}")
    if f.maximum is not None and number > Decimal(str(f.maximum)):
        raise _Invalid(f"Must be at most {f.maximum}")
    if f.increment is not None and number % f.increment != 0:
        raise _Invalid(f"Must be a multiple of {f.increment}")
    if f.serialize_to_string:
        return str(number)
    if number == number.to_integral_value():
        return int(number)
    result = float(number)
    if math.isinf(result):
        raise _Invalid("Must be a number")
    return result


def _datetime(f: FormField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("Must be a date or time as text")
    text = value.strip()
    try:
        if f.subtype == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise ValueError
            date.fromisoformat(text)
        elif f.subtype == "time":
            if not re.fullmatch(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", text):
                raise ValueError
            time.fromisoformat(text)
        else:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}.*", text):
                raise ValueError
            datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid({"date": "Must be a date (YYYY-MM-DD)", "time": "Must be a time (HH:MM)",
                        "datetime": "Must be a date and time (YYYY-MM-DDTHH:MM)"}[f.subtype]) from None
    return text
