"""Inbound messages: start an instance, move a waiting one, or keep the message until one waits.

A message (POST /api/v1/messages) has a name, an idempotency key, optional `businessKey`,
`correlationKeys` (process variables that must have these values), `processKey` and `site`, and
variables. It is handled in one transaction, in this order:

1. Its idempotency key was seen: nothing happens; the caller gets the first outcome back.
2. Running instances wait for it (a message subscription derived from the instance state) and
   match: exactly one must match (else 409, nothing stored); it catches the message, its variables
   become process variables, and the instance runs on.
3. The latest version of a process starts with this message: a new instance starts there.
4. Otherwise it is kept (`pending`) for `ttlSeconds` (LANES_MESSAGE_TTL_SECONDS, 24 h by default);
   when an instance starts waiting for it, the instance's save delivers it in the same transaction.
   Past its time it is `expired`: never delivered, listed for admins.

Non-admin senders reach only instances at their own sites, now and when the message is delivered later.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.exc import IntegrityError

from ..engine import ProcessError
from ..engine import messages as engine_messages
from ..models import InboundMessage, MessageSubscription, ProcessDefinition, ProcessInstance, db, utcnow
from . import audit, deployments
from .accounts import Principal
from .errors import Conflict, Forbidden, Invalid, NotFound, ProcessFailure
from .transaction import transactional

DEFAULT_TTL_SECONDS = 24 * 3600
MAX_TTL_SECONDS = 366 * 24 * 3600
MAX_CORRELATION_KEYS = 20
RESERVED = {"site", "business_key"}
SITE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
STATES = ("pending", "expired", "delivered", "failed")
WAITING_STATES = ("running", "suspended")  # instances whose waits are kept as subscriptions


def default_ttl_seconds() -> int:
    """LANES_MESSAGE_TTL_SECONDS: how long a message nobody waits for is kept (default 24 h)."""
    raw = os.environ.get("LANES_MESSAGE_TTL_SECONDS", "")
    try:
        return min(max(int(raw), 0), MAX_TTL_SECONDS) if raw.strip() else DEFAULT_TTL_SECONDS
    except ValueError:
        return DEFAULT_TTL_SECONDS


@dataclass
class MessageRequest:
    name: str
    idempotency_key: str
    business_key: str | None = None
    correlation_keys: dict | None = None
    variables: dict | None = None
    process_key: str | None = None
    site: str | None = None
    ttl_seconds: int | None = None


@dataclass
class Receipt:
    message: InboundMessage
    duplicate: bool


def state_of(message: InboundMessage, now: datetime | None = None) -> str:
    if message.state == "pending" and message.expires_at <= (now or utcnow()):
        return "expired"
    return message.state


# --- receiving ------------------------------------------------------------------

def _optional_text(value, field: str, limit: int = 200):
    if value is not None and (not isinstance(value, str) or not value or len(value) > limit or "\x00" in value):
        raise Invalid(f"{field} must be a non-empty string of at most {limit} characters",
                      errors={field: f"At most {limit} characters"})


def _check(request: MessageRequest) -> None:
    if not isinstance(request.name, str) or not request.name.strip() or len(request.name) > 200:
        raise Invalid("a message needs a name (at most 200 characters)", errors={"name": "Required"})
    _optional_text(request.name, "name")
    if not isinstance(request.idempotency_key, str) or not request.idempotency_key.strip():
        raise Invalid("a message needs an idempotency key (Idempotency-Key header or idempotencyKey field)",
                      errors={"idempotencyKey": "Required"})
    _optional_text(request.idempotency_key, "idempotencyKey")
    _optional_text(request.business_key, "businessKey")
    _optional_text(request.process_key, "processKey")
    if request.site is not None and (not isinstance(request.site, str) or not SITE.match(request.site)):
        raise Invalid("site must be a site code such as NORTH", errors={"site": "Must be a site code"})
    keys = request.correlation_keys
    if not isinstance(keys, dict) or len(keys) > MAX_CORRELATION_KEYS or not all(
            isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool))) for k, v in keys.items()):
        raise Invalid(f"correlationKeys must be an object of at most {MAX_CORRELATION_KEYS} variable names with "
                      f"plain values", errors={"correlationKeys": "An object of variable name -> value"})
    if not isinstance(request.variables, dict):
        raise Invalid("variables must be a JSON object", errors={"variables": "Must be an object"})
    clash = RESERVED & set(request.variables)
    if clash:
        raise Invalid(f"variables may not set {', '.join(sorted(clash))}", errors={"variables": "Reserved names"})
    from .instances import check_variables_size
    check_variables_size(request.variables)
    ttl = request.ttl_seconds
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL_SECONDS):
        raise Invalid(f"ttlSeconds must be a whole number of seconds from 0 to {MAX_TTL_SECONDS}",
                      errors={"ttlSeconds": f"0 to {MAX_TTL_SECONDS}"})


def _request_hash(request: MessageRequest) -> str:
    parts = [request.name, request.business_key, request.correlation_keys, request.variables,
             request.process_key, request.site]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class _ReceivedMeanwhile(Exception):
    """Another request with the same idempotency key committed first."""


def receive_message(request: MessageRequest, actor: Principal) -> Receipt:
    """Handle one inbound message (see the module docstring); a repeated idempotency key is a no-op."""
    request.correlation_keys = {} if request.correlation_keys is None else request.correlation_keys
    request.variables = {} if request.variables is None else request.variables
    _check(request)
    request_hash = _request_hash(request)
    replay = _replayed(request.idempotency_key, request_hash)
    if replay is not None:
        return Receipt(replay, duplicate=True)
    try:
        return Receipt(_receive(request, request_hash, actor), duplicate=False)
    except _ReceivedMeanwhile:
        replay = _replayed(request.idempotency_key, request_hash)
        if replay is None:
            raise Conflict("a message with this idempotency key is being handled; retry shortly") from None
        return Receipt(replay, duplicate=True)


def _replayed(key: str, request_hash: str) -> InboundMessage | None:
    stored = db.session.scalar(select(InboundMessage).where(InboundMessage.idempotency_key == key))
    db.session.rollback()  # a read only: end the transaction it opened
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise Conflict("this idempotency key was already used for a different message")
    return db.session.get(InboundMessage, stored.id)


@transactional
def _receive(request: MessageRequest, request_hash: str, actor: Principal) -> InboundMessage:
    now = utcnow()
    ttl = default_ttl_seconds() if request.ttl_seconds is None else request.ttl_seconds
    message = InboundMessage(
        idempotency_key=request.idempotency_key, request_hash=request_hash, name=request.name,
        business_key=request.business_key, correlation_keys=request.correlation_keys,
        process_key=request.process_key, site=request.site, variables=request.variables,
        allowed_sites=None if actor.is_admin else sorted(actor.sites), state="pending",
        received_at=now, received_by=actor.username, expires_at=now + timedelta(seconds=ttl), element_ids=[])
    db.session.add(message)
    try:
        db.session.flush()  # the key is taken first: a concurrent duplicate waits here, then fails
    except IntegrityError:
        raise _ReceivedMeanwhile() from None
    _lock_name(message.name)

    waiting = _waiting_instances(message)
    if len(waiting) > 1:
        raise Conflict(f"{len(waiting)} instances wait for message '{message.name}'; narrow it down with "
                       f"businessKey, correlationKeys, processKey or site",
                       instanceIds=sorted(i.id for i in waiting)[:20])
    if waiting:
        instance = waiting[0]
        _correlate(message, instance, actor, now)
        return message

    definition = _start_definition(message)
    if definition is not None:
        _start_instance(message, definition, actor, now)
        return message

    audit.record("message.kept", actor, message_id=message.id, name=message.name, business_key=message.business_key,
                 expires_at=message.expires_at.isoformat())
    return message


def _lock_name(name: str) -> None:
    """Serialise, per message name, "store a pending message" against "an instance starts waiting".

    On PostgreSQL both sides take this transaction-scoped advisory lock before looking for the
    other, so one of them always sees the other's committed row. SQLite serialises writers anyway.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"lanes-message:{name}"})


def matches(message: InboundMessage, instance: ProcessInstance) -> bool:
    """Whether `message` may go to `instance` (its name aside): keys, process, site, sender's sites."""
    if message.business_key is not None and message.business_key != instance.business_key:
        return False
    if message.process_key is not None and message.process_key != instance.process_key:
        return False
    if message.site is not None and message.site != instance.site:
        return False
    if message.allowed_sites is not None and instance.site not in message.allowed_sites:
        return False
    variables = instance.variables or {}
    return all(key in variables and variables[key] == value for key, value in (message.correlation_keys or {}).items())


def _waiting_instances(message: InboundMessage) -> list[ProcessInstance]:
    waits = select(MessageSubscription.instance_id).where(MessageSubscription.message_name == message.name)
    if message.business_key is not None:
        waits = waits.where(MessageSubscription.business_key == message.business_key)
    if message.process_key is not None:
        waits = waits.where(MessageSubscription.process_key == message.process_key)
    if message.site is not None:
        waits = waits.where(MessageSubscription.site == message.site)
    query = (select(ProcessInstance).where(ProcessInstance.id.in_(waits), ProcessInstance.state == "running")
             .order_by(ProcessInstance.started_at, ProcessInstance.id))
    return [instance for instance in db.session.scalars(query) if matches(message, instance)]


def _subscriptions(instance_id: str, names=None) -> list[MessageSubscription]:
    query = select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)
    if names is not None:
        query = query.where(MessageSubscription.message_name.in_(sorted(names)))
    return list(db.session.scalars(query.order_by(MessageSubscription.id)))


def _correlate(message: InboundMessage, instance: ProcessInstance, actor, now: datetime) -> None:
    from .instances import check_state_size, save_workflow
    runtime = deployments.runtime_for(instance.definition)
    workflow = runtime.load(instance.workflow_state)
    task_ids = {s.spiff_task_id for s in _subscriptions(instance.id, {message.name})}
    try:
        caught = engine_messages.deliver(workflow, message.name, message.variables, task_ids)
        runtime.advance(workflow)
    except ProcessError as exc:
        raise ProcessFailure(f"message '{message.name}' made instance {instance.id} fail at "
                             f"{exc.element_id or 'an element'}: {exc}", elementId=exc.element_id) from None
    if not caught:
        raise Conflict(f"instance {instance.id} no longer waits for '{message.name}'; send the message again")
    _mark_delivered(message, "correlated", instance, caught, now)
    audit.record("message.correlated", actor, instance_id=instance.id, message_id=message.id, name=message.name,
                 element_ids=caught, variables=sorted(message.variables))
    save_workflow(instance, runtime, workflow, actor)
    check_state_size(instance)


def _mark_delivered(message, outcome, instance, element_ids, now) -> None:
    message.state, message.outcome = "delivered", outcome
    message.instance, message.element_ids, message.delivered_at = instance, list(element_ids), now


def _start_definition(message: InboundMessage) -> ProcessDefinition | None:
    found = [d for d in deployments.latest_definitions(message.process_key)
             if message.name in engine_messages.start_messages(deployments.runtime_for(d).process)]
    if len(found) > 1:
        raise Conflict(f"message '{message.name}' starts {len(found)} processes "
                       f"({', '.join(d.process_key for d in found)}); name one with processKey")
    return found[0] if found else None


def _start_instance(message: InboundMessage, definition: ProcessDefinition, actor: Principal, now) -> None:
    from .instances import check_state_size, new_instance, save_workflow
    if message.site is None:
        raise Invalid(f"message '{message.name}' starts process {definition.process_key}: say at which site "
                      f"with the site field", errors={"site": "Required to start an instance"})
    if not actor.sees_site(message.site):
        raise Forbidden(f"you may not start instances at site {message.site}")
    runtime = deployments.runtime_for(definition)
    start_vars = {"site": message.site, "business_key": message.business_key}
    try:
        workflow = runtime.start(start_vars, message=(message.name, message.variables))
    except ProcessError as exc:
        raise ProcessFailure(f"the process failed at {exc.element_id or 'start'}: {exc}",
                             elementId=exc.element_id) from None
    instance = new_instance(definition, site=message.site, business_key=message.business_key, actor=actor,
                            message_id=message.id, message=message.name)
    # delivered before the first save: a wait of the new instance must not take this message again
    _mark_delivered(message, "started", instance, [engine_messages.start_messages(runtime.process)[message.name]], now)
    save_workflow(instance, runtime, workflow, actor)
    check_state_size(instance)


# --- subscriptions: derived in every instance save --------------------------------------

def sync_subscriptions(instance: ProcessInstance, runtime, workflow, now: datetime, fresh: bool = False) -> None:
    """Make the instance's subscription rows match the messages it waits for; a new wait takes a
    matching pending message at once (delivered, saved again, in this same transaction).
    `fresh`: the instance is new and has no subscriptions yet."""
    waits = engine_messages.waiting_for_messages(workflow) if instance.state in WAITING_STATES else []
    wanted = {w.spiff_task_id: w for w in waits}
    existing = {} if fresh else {s.spiff_task_id: s for s in _subscriptions(instance.id)}
    for task_id, row in existing.items():
        if task_id not in wanted:
            db.session.delete(row)
    new = [w for task_id, w in wanted.items() if task_id not in existing]
    for wait in new:
        db.session.add(MessageSubscription(
            instance_id=instance.id, message_name=wait.message_name, business_key=instance.business_key,
            process_key=instance.process_key, site=instance.site, element_id=wait.element_id,
            spiff_task_id=wait.spiff_task_id, kind=wait.kind, created_at=now))
    if new and instance.state == "running":
        db.session.flush()
        _deliver_pending(instance, runtime, workflow, new, now)


def _deliver_pending(instance, runtime, workflow, waits, now) -> bool:
    """Hand the oldest matching pending message to these waits; True if one was delivered."""
    from .instances import save_workflow
    names = sorted({w.message_name for w in waits})
    for name in names:
        _lock_name(name)
    candidates = db.session.scalars(
        select(InboundMessage).where(InboundMessage.state == "pending", InboundMessage.name.in_(names),
                                     InboundMessage.expires_at > now,
                                     or_(InboundMessage.business_key.is_(None),
                                         InboundMessage.business_key == instance.business_key))
        .order_by(InboundMessage.received_at, InboundMessage.id)).all()
    for message in candidates:
        if not matches(message, instance):
            continue
        task_ids = {w.spiff_task_id for w in waits if w.message_name == message.name}
        attempt = runtime.load(runtime.dump(workflow))  # a failed delivery leaves `workflow` as it was
        try:
            caught = engine_messages.deliver(attempt, message.name, message.variables, task_ids)
            runtime.advance(attempt)
        except ProcessError as exc:
            message.state, message.instance = "failed", instance
            message.last_error = f"{exc.element_id or 'process'}: {exc}"[:2000]
            audit.record("message.failed", message.received_by, instance_id=instance.id, message_id=message.id,
                         name=message.name, element_id=exc.element_id, error=message.last_error)
            continue
        if not caught:
            continue
        _mark_delivered(message, "correlated", instance, caught, now)
        audit.record("message.correlated", message.received_by, instance_id=instance.id, message_id=message.id,
                     name=message.name, element_ids=caught, variables=sorted(message.variables),
                     received_at=message.received_at.isoformat(), delivered="when the instance started waiting")
        save_workflow(instance, runtime, attempt, message.received_by)
        return True
    return False


def deliver_pending_for(instance: ProcessInstance) -> bool:
    """Inside a transaction (e.g. resuming an instance): deliver a pending message to its waits."""
    subscriptions = _subscriptions(instance.id)
    if instance.state != "running" or not subscriptions:
        return False
    runtime = deployments.runtime_for(instance.definition)
    workflow = runtime.load(instance.workflow_state)
    waits = [engine_messages.MessageWait(s.spiff_task_id, s.element_id, s.message_name, s.kind) for s in subscriptions]
    return _deliver_pending(instance, runtime, workflow, waits, utcnow())


# --- reading ------------------------------------------------------------------------------

def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only an admin may list messages")


ADMIN_DEFAULT_STATES = ("pending", "expired")  # what needs an admin's eye: nobody took these (yet)


def _state_condition(state: str, now: datetime):
    if state == "pending":
        return (InboundMessage.state == "pending") & (InboundMessage.expires_at > now)
    if state == "expired":
        return (InboundMessage.state == "pending") & (InboundMessage.expires_at <= now)
    return InboundMessage.state == state


def _states(state) -> tuple[str, ...]:
    """None (any), one state, or several: checked against STATES."""
    if state is None:
        return ()
    chosen = (state,) if isinstance(state, str) else tuple(dict.fromkeys(state))
    unknown = [s for s in chosen if s not in STATES]
    if unknown:
        raise Invalid(f"state must be one of {', '.join(STATES)}", errors={"state": "Unknown state"})
    return chosen


def list_messages(actor: Principal, state=None, name: str | None = None,
                  business_key: str | None = None, limit: int = 100, offset: int = 0) -> list[InboundMessage]:
    """Messages for admins, newest first; state pending | expired | delivered | failed, or a list of them."""
    _require_admin(actor)
    states = _states(state)
    now = utcnow()
    query = select(InboundMessage).order_by(InboundMessage.received_at.desc(), InboundMessage.id)
    if states and set(states) != set(STATES):
        query = query.where(or_(*(_state_condition(s, now) for s in states)))
    if name:
        query = query.where(InboundMessage.name == name)
    if business_key:
        query = query.where(InboundMessage.business_key == business_key)
    return list(db.session.scalars(query.limit(limit).offset(offset)))


@dataclass
class MessageView:
    """A message as the admin pages show it: its state now and its variables, sensitive values masked."""
    message: InboundMessage
    state: str
    variables: dict
    instance_id: str | None
    instance_process: str | None


def admin_messages(actor: Principal, states=ADMIN_DEFAULT_STATES, name: str | None = None,
                   limit: int = 200) -> list[MessageView]:
    """The admins' message list (newest first), pending and expired ones unless `states` says otherwise.

    Variables are masked by services.instance_data: sensitive names, LANES_SENSITIVE_FIELDS and the form
    fields marked sensitive in the deployment of the instance the message went to; a message that went to
    no instance is masked with the marks of every process version it could still reach (the latest ones)."""
    from .instance_data import marked_for, mask_variables
    found = list_messages(actor, state=states or None, name=(name or "").strip() or None, limit=limit)
    now = utcnow()
    ids = sorted({m.instance_id for m in found if m.instance_id})
    targets = {row.id: row for row in db.session.execute(  # columns only: no workflow is loaded
        select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.definition_id)
        .where(ProcessInstance.id.in_(ids)))} if ids else {}
    marks: dict = {}

    def marked(message: InboundMessage) -> frozenset[str]:
        target = targets.get(message.instance_id)
        key = ("version", target.definition_id) if target is not None else ("latest", message.process_key)
        if key not in marks:
            if target is not None:
                marks[key] = marked_for(db.session.get(ProcessDefinition, target.definition_id))
            else:
                marks[key] = frozenset().union(*(marked_for(d) for d in deployments.latest_definitions(message.process_key)))
        return marks[key]

    return [MessageView(message=m, state=state_of(m, now), variables=mask_variables(m.variables or {}, marked(m)),
                        instance_id=m.instance_id,
                        instance_process=targets[m.instance_id].process_key if m.instance_id in targets else None)
            for m in found]


def get_message(message_id: str, actor: Principal) -> InboundMessage:
    """A message, for an admin or for whoever sent it."""
    message = db.session.get(InboundMessage, message_id)
    if message is None or not (actor.is_admin or message.received_by == actor.username):
        raise NotFound(f"message {message_id} does not exist")
    return message


def instance_subscriptions(instance_id: str) -> list[MessageSubscription]:
    return _subscriptions(instance_id)
