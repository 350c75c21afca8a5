"""Moving a running instance from one version of its process to another.

Built on SpiffWorkflow's `SpecDiff` (aligns the task specs of two versions, by element id first,
then by structure) and `migrate_workflow` (puts the new specs on the tasks, then resets and
re-predicts every ready or waiting branch). Lanes adds:

- an activity mapping (old element id -> new element id) that overrides the alignment, as in
  Camunda's migration plans: renamed activities keep their tokens;
- the reasons an instance cannot move: a token waits at an activity the new version lacks (or one
  of another kind), or the instance has passed an activity the new version lacks (Lanes stores the
  state of each task on the instance's path, so every one of them needs a counterpart);
- tokens keep what they had: the data of each waiting task and the internal data of waiting
  events (a timer keeps its due date, as in Camunda);
- a check that the moved state reloads against the new version's specs.

Nothing here touches the database: the services do the dry run and the move.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import SpecDiff, migrate_workflow
from SpiffWorkflow.task import TaskState

from .runtime import ProcessError, ProcessRuntime

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
HISTORY = TaskState.COMPLETED | TaskState.CANCELLED
RESET = TaskState.READY | TaskState.WAITING  # what migrate_workflow resets and re-predicts


class MappingError(ValueError):
    """The activity mapping names elements that do not exist; `errors` per old element id."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class _SpecView:
    """What SpecDiff compares of two task specs: kind, name, and the element's camunda configuration.

    Lanes' own task specs have no serializer converters (specs are never stored), so this stands in
    for the serializer registry SpecDiff would otherwise use.
    """

    def __init__(self, *runtimes: ProcessRuntime):
        self._elements = {}
        for runtime in runtimes:
            for spec in (runtime.process.spec, *runtime.process.subprocess_specs.values()):
                self._elements[id(spec)] = runtime.process.elements

    def convert(self, spec) -> dict:
        view = {"typename": type(spec).__name__, "bpmn_name": getattr(spec, "bpmn_name", None)}
        definition = getattr(spec, "event_definition", None)
        if definition is not None:
            view["event"] = [type(definition).__name__, getattr(definition, "name", None)]
        config = self._elements.get(id(spec._wf_spec), {}).get(getattr(spec, "bpmn_id", None))
        if config is not None:
            view.update({f"camunda:{k}": v for k, v in config.attributes.items()})
            view["inputs"], view["outputs"] = dict(config.inputs), dict(config.outputs)
        return view


def _mapped_name(name: str, mapping: dict[str, str]) -> str | None:
    """The new spec name for an old one: the element itself, or an internal spec named after it."""
    if name in mapping:
        return mapping[name]
    head, dot, tail = name.partition(".")
    if dot and head in mapping:
        return f"{mapping[head]}.{tail}"
    return None


def _diff(view: _SpecView, original, new, mapping: dict[str, str], suggestions: dict[str, str]) -> SpecDiff:
    """SpecDiff with Camunda's rule: an element moves to the element with its id or to the one the
    mapping names. SpecDiff's guesses by structure (a renamed task between the same neighbours)
    are only suggestions for the admin's mapping, never applied silently."""
    diff = SpecDiff(view, original, new)
    for spec in original.task_specs.values():
        target = _mapped_name(spec.name, mapping)
        if target is None:
            target = spec.name
            guess = diff.alignment.get(spec)
            if guess is not None and guess.name != spec.name and getattr(spec, "bpmn_id", None):
                suggestions[spec.bpmn_id] = guess.name
        aligned = new.task_specs.get(target)
        diff.alignment[spec] = aligned
        if aligned is not None:
            diff.comparisons[spec] = diff._compare_task_specs(spec, aligned)
        else:
            diff.comparisons.pop(spec, None)
    return diff


@dataclass
class MigrationPlan:
    source: ProcessRuntime
    target: ProcessRuntime
    target_version: int
    mapping: dict[str, str] = field(default_factory=dict)
    top: SpecDiff | None = None
    subprocesses: dict[str, SpecDiff | None] = field(default_factory=dict)
    suggestions: dict[str, str] = field(default_factory=dict)  # old element id -> a likely new one

    def changed_elements(self) -> dict[str, list[str]]:
        """Old element id -> the compared properties that differ in the new version."""
        changed = {}
        for diff in (self.top, *self.subprocesses.values()):
            for spec, changes in (diff.changed.items() if diff is not None else ()):
                if getattr(spec, "bpmn_id", None):
                    changed[spec.bpmn_id] = sorted(changes)
        return changed


def _elements_of(runtime: ProcessRuntime) -> set[str]:
    names = set(runtime.process.spec.task_specs)
    for spec in runtime.process.subprocess_specs.values():
        names.update(spec.task_specs)
    return names


def plan_migration(source: ProcessRuntime, target: ProcessRuntime, target_version: int,
                   mapping: dict[str, str] | None = None) -> MigrationPlan:
    """Compare two versions once; raise MappingError if the mapping names unknown elements."""
    mapping = dict(mapping or {})
    old_names, new_names = _elements_of(source), _elements_of(target)
    errors = {}
    for old, new in mapping.items():
        if old not in old_names:
            errors[old] = f"'{old}' is not an element of the version instances move from"
        elif new not in new_names:
            errors[old] = f"'{new}' is not an element of version {target_version}"
    if errors:
        raise MappingError(errors)
    view = _SpecView(source, target)
    plan = MigrationPlan(source, target, target_version, mapping)
    plan.top = _diff(view, source.process.spec, target.process.spec, mapping, plan.suggestions)
    for name, spec in source.process.subprocess_specs.items():
        new = target.process.subprocess_specs.get(name)
        plan.subprocesses[name] = _diff(view, spec, new, mapping, plan.suggestions) if new is not None else None
    return plan


def _workflows(workflow: BpmnWorkflow):
    yield workflow
    yield from workflow.subprocesses.values()


def _diff_for(plan: MigrationPlan, wf, top: BpmnWorkflow):
    return plan.top if wf is top else plan.subprocesses.get(wf.spec.name)


def _new_spec_for(plan: MigrationPlan, wf, top: BpmnWorkflow):
    return plan.target.process.spec if wf is top else plan.target.process.subprocess_specs.get(wf.spec.name)


def _aligned(plan: MigrationPlan, diff: SpecDiff, new_spec, spec):
    """The new task spec for an old one (None: it has none); specs SpecDiff did not reach go by name."""
    if spec in diff.alignment:
        return diff.alignment[spec]
    return new_spec.task_specs.get(_mapped_name(spec.name, plan.mapping) or spec.name)


def _kind(runtime: ProcessRuntime, spec) -> str:
    config = runtime.process.elements.get(getattr(spec, "bpmn_id", None) or "")
    return config.tag if config is not None and config.tag else type(spec).__name__


def _hint(plan: MigrationPlan, spec) -> str:
    guess = plan.suggestions.get(getattr(spec, "bpmn_id", None) or "")
    return f" (perhaps {guess})" if guess else ""


def _label(spec) -> str:
    return getattr(spec, "bpmn_id", None) or spec.name


def blockers(plan: MigrationPlan, workflow: BpmnWorkflow) -> list[str]:
    """Why this workflow cannot move under `plan` (empty: it can)."""
    version = plan.target_version
    reasons = []
    for wf in _workflows(workflow):
        diff = _diff_for(plan, wf, workflow)
        if diff is None:
            reasons.append(f"runs subprocess {wf.spec.name}, which version {version} does not have")
            continue
        new_spec = _new_spec_for(plan, wf, workflow)
        for task in wf.tasks.values():
            spec = task.task_spec
            new = _aligned(plan, diff, new_spec, spec)
            if task.has_state(ACTIVE):
                if new is None:
                    reasons.append(f"waits at {_label(spec)}, which version {version} does not have; "
                                   f"map it to an activity of version {version}{_hint(plan, spec)}")
                elif _kind(plan.source, spec) != _kind(plan.target, new):
                    reasons.append(f"waits at {_label(spec)} ({_kind(plan.source, spec)}), but its counterpart "
                                   f"{_label(new)} in version {version} is a {_kind(plan.target, new)}")
            elif task.has_state(HISTORY) and new is None:
                reasons.append(f"has passed {_label(spec)}, which version {version} does not have; map it to an "
                               f"activity of version {version}{_hint(plan, spec)}")
    return sorted(set(reasons))


def migrate(plan: MigrationPlan, workflow: BpmnWorkflow) -> BpmnWorkflow:
    """Move `workflow` (loaded with the source version) onto the target version and return it
    reloaded from its new state (proof that the state fits the new specs).

    Call only when `blockers` found nothing; raises ProcessError if the moved state does not load.
    """
    kept = {task.id: (task.data, task.internal_data)
            for wf in _workflows(workflow) for task in wf.tasks.values() if task.has_state(RESET)}
    for wf in list(_workflows(workflow)):
        diff, new_spec = _diff_for(plan, wf, workflow), _new_spec_for(plan, wf, workflow)
        alignment = {task: _aligned(plan, diff, new_spec, task.task_spec) for task in wf.tasks.values()}
        migrate_workflow(SimpleNamespace(alignment=alignment), wf, new_spec)
    workflow.subprocess_specs = plan.target.process.subprocess_specs
    workflow.script_engine = plan.target.script_engine
    for wf in _workflows(workflow):
        for task in wf.tasks.values():
            if task.id in kept and task.has_state(RESET):
                task.data, task.internal_data = kept[task.id]
    # no engine steps here: the tokens are where they were, and a timer that fell due meanwhile is its
    # job's to fire (audited, and not at all while the instance is suspended)
    try:
        return plan.target.load(plan.target.dump(workflow))
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise ProcessError(f"the moved state does not fit version {plan.target_version}: "
                           f"{exc.__class__.__name__}: {exc}") from None
