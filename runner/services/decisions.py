"""Try the rules: evaluate a DMN decision (deployed, or a workspace's draft) and show which rows matched."""
from __future__ import annotations

from sqlalchemy import select

from ..engine import dmn
from ..models import Deployment, db
from . import deployments, workspaces
from .accounts import Principal
from .errors import Forbidden, Invalid, NotFound


def _find_deployed(key: str) -> dmn.Decision:
    for deployment in db.session.scalars(select(Deployment).order_by(Deployment.id.desc())):
        decision = deployments.parsed_deployment(deployment).decisions.get(key)
        if decision is not None:
            return decision
    raise NotFound(f"no deployed decision '{key}'")


def _find_in_workspace(key: str, workspace: str, actor: Principal) -> dmn.Decision:
    for file in workspaces.workspace_files(workspace, actor):
        if file.kind != "dmn":
            continue
        try:
            decisions = dmn.parse_dmn(file.content, file.filename)
        except dmn.DecisionError as exc:
            raise Invalid(str(exc), problems=[{"file": file.filename, "element_id": exc.element_id,
                                               "message": str(exc)}]) from None
        for decision in decisions:
            if decision.id == key:
                return decision
    raise NotFound(f"workspace '{workspace}' has no decision '{key}'")


def evaluate_decision(key: str, variables: dict, actor: Principal, workspace: str | None = None) -> dict:
    """Evaluate decision `key` for `variables`: every matching row, the rows the hit policy chose, the result."""
    if not actor.is_analyst:
        raise Forbidden("trying decisions is for analysts and admins")
    if not isinstance(variables, dict):
        raise Invalid("variables must be a JSON object", errors={"variables": "Must be an object"})
    decision = _find_in_workspace(key, workspace, actor) if workspace else _find_deployed(key)
    try:
        matching = dmn.matching_rules(decision, variables)
        result = dmn.evaluate(decision, variables)
    except dmn.DecisionError as exc:
        raise Invalid(f"the decision could not be evaluated: {exc}", elementId=exc.element_id) from None
    return {
        "decisionId": decision.id,
        "name": decision.name,
        "hitPolicy": decision.hit_policy + (f" {decision.aggregation}" if decision.aggregation else ""),
        "inputs": [{"label": i.label, "expression": i.expression} for i in decision.inputs],
        "matchingRows": [r.row for r in matching],
        "selectedRows": result.matched_rows,
        "selectedRuleIds": result.matched_rule_ids,
        "outputs": result.outputs,
        "result": result.value,
    }



