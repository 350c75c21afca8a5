"""Admin corrections of an instance's variables, audited with before/after values, sensitive ones masked.

Which variables are sensitive: names in LANES_SENSITIVE_FIELDS (comma-separated, case-insensitive,
independent of any diagram or decision table), names built from a sensitive word (ssn, dob,
password, token, ...: `patient_ssn`, `dateOfBirth`), whatever the audit trail already treats as
secret, and the keys of form fields marked sensitive (form-js custom property `sensitive` = `true`)
in any form of the deployment that holds the instance's process version. Their values never reach
the audit row: it says that they changed, not from what to what; inside a changed object, the
sensitive keys are masked the same way. A form key is a path from the variable (`patient.card`:
the key `card` of the variable `patient`; rows of a list are transparent, `lines.iban` masks `iban`
in every row of `lines`).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from ..engine import ProcessError
from ..engine.variables import set_variables
from ..models import ProcessInstance
from . import audit, deployments
from .accounts import Principal
from .errors import Conflict, Forbidden, Invalid, ProcessFailure
from .instances import check_state_size, check_variables_size, get_instance
from .transaction import transactional

MASK = "********"
SENSITIVE_WORDS = {"ssn", "sin", "dob", "birthdate", "password", "passwd", "token", "secret", "pin", "iban",
                   "mrn", "diagnosis"}
SENSITIVE_NAMES = {"social_security_number", "date_of_birth", "birth_date", "card_number", "credit_card",
                   "account_number", "bank_account", "routing_number", "tax_id"}
RESERVED = {"site", "business_key"}
MAX_REASON = 500
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def configured_sensitive() -> set[str]:
    """LANES_SENSITIVE_FIELDS, lower-cased."""
    return {name.strip().lower() for name in os.environ.get("LANES_SENSITIVE_FIELDS", "").split(",") if name.strip()}


def _snake(name: str) -> str:
    return "_".join(w.lower() for w in _WORD.findall(name))


def form_marked(parsed_deployment) -> frozenset[str]:
    """The key paths (lower-cased) of the form fields marked sensitive in a parsed deployment's forms."""
    forms = getattr(parsed_deployment, "forms", None) or {}
    return frozenset(key.lower() for form in forms.values() for key in form.sensitive_keys())


def marked_for(definition) -> frozenset[str]:
    """The form-marked sensitive keys of a process version's deployment (parsed once per content hash)."""
    if definition is None:
        return frozenset()
    return form_marked(deployments.runtime_for(definition).deployment)


def is_sensitive(name, marked=frozenset(), path: tuple = ()) -> bool:
    """Whether the key `name` (under the key path `path` of a variable) holds a sensitive value;
    `marked`: key paths that forms mark sensitive (form_marked)."""
    if not isinstance(name, str):
        return False
    if marked and ".".join((*path, name)).lower() in marked:
        return True
    lowered, snake = name.lower(), _snake(name)
    configured = configured_sensitive()
    if lowered in configured or snake in configured or snake in SENSITIVE_NAMES:
        return True
    words = set(snake.split("_"))
    return "birth" in words or bool(SENSITIVE_WORDS & words) or audit.looks_secret(name)


def mask(value, marked=frozenset(), path: tuple = ()):
    """`value` (found under the key path `path`) with every sensitive key at any depth masked."""
    if isinstance(value, dict):
        return {k: (MASK if is_sensitive(k, marked, path) and v is not None else mask(v, marked, (*path, str(k))))
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, marked, path) for v in value]
    return value


def mask_variables(variables: dict, marked=frozenset()) -> dict:
    """Process (or message) variables for display or an audit row: sensitive ones masked."""
    return mask(variables or {}, marked)


def diff_variables(before: dict, after: dict, names, marked=frozenset()) -> list[dict]:
    """One entry per variable in `names` whose value differs: added, changed or removed; `marked`:
    the key paths forms mark sensitive (masked like the sensitive names)."""
    changes = []
    for name in sorted(names):
        had, has = name in before, name in after
        if had and has and before[name] == after[name] or not had and not has:
            continue
        change = {"variable": name, "change": "changed" if had and has else ("added" if has else "removed")}
        sensitive = is_sensitive(name, marked)
        if had:
            change["before"] = MASK if sensitive else mask(before[name], marked, (name,))
        if has:
            change["after"] = MASK if sensitive else mask(after[name], marked, (name,))
        change["masked"] = sensitive
        changes.append(change)
    return changes


@dataclass
class DataEdit:
    instance: ProcessInstance
    changes: list[dict]


def _check(updates, removals, reason) -> None:
    if not isinstance(updates, dict):
        raise Invalid("variables must be a JSON object", errors={"variables": "Must be an object"})
    if not isinstance(removals, list) or not all(isinstance(n, str) for n in removals):
        raise Invalid("remove must be a list of variable names", errors={"remove": "A list of names"})
    if not updates and not removals:
        raise Invalid("nothing to change: give variables to set or names to remove")
    clash = RESERVED & (set(updates) | set(removals))
    if clash:
        raise Invalid(f"{', '.join(sorted(clash))} cannot be edited: it is part of the instance, not a variable")
    if set(updates) & set(removals):
        raise Invalid("a variable cannot be both set and removed")
    check_variables_size(updates)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise Invalid(f"say why (reason, at most {MAX_REASON} characters): it goes into the audit trail",
                      errors={"reason": "Required"})


@transactional
def edit_variables(instance_id: str, actor: Principal, updates: dict | None = None,
                   removals: list[str] | None = None, reason: str = "") -> DataEdit:
    """Set and remove variables of a running or suspended instance (admins only); one audit row with
    the before/after of each changed variable, sensitive values masked. A no-op changes nothing."""
    if not actor.is_admin:
        raise Forbidden("only an admin may edit an instance's variables")
    updates = {} if updates is None else updates
    removals = [] if removals is None else removals
    _check(updates, removals, reason)
    instance = get_instance(instance_id, actor)
    if instance.state not in ("running", "suspended"):
        raise Conflict(f"instance {instance_id} is {instance.state}; its variables are history")
    from .instances import save_workflow
    runtime = deployments.runtime_for(instance.definition)
    workflow = runtime.load(instance.workflow_state)
    before = runtime.variables(workflow)
    if not set_variables(workflow, updates, removals):
        raise Conflict(f"instance {instance_id} has no token to carry variables")
    after = runtime.variables(workflow)
    changes = diff_variables(_plain(before), _plain(after), set(updates) | set(removals),
                             form_marked(runtime.deployment))
    if not changes:
        return DataEdit(instance, [])
    try:
        save_workflow(instance, runtime, workflow, actor)
    except ProcessError as exc:  # e.g. an assignee expression that no longer evaluates
        raise ProcessFailure(f"the change makes the process fail at {exc.element_id}: {exc}",
                             elementId=exc.element_id) from None
    check_state_size(instance)
    audit.record("instance.variables-changed", actor, instance_id=instance.id, reason=reason.strip(),
                 changes=changes)
    return DataEdit(instance, changes)


def _plain(variables: dict) -> dict:
    return json.loads(json.dumps(variables, default=str))
