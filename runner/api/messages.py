"""REST routes for inbound messages: POST /messages (other systems' events), and the admins' list."""
from __future__ import annotations

from flask import jsonify, request

from ..services import Invalid, instances, messages
from . import api, openapi
from .bodies import json_body
from .identity import current_principal
from .representations import _time
from .routes import _int_arg

STATUS = {"started": 201, "correlated": 200}


def message_json(message, duplicate: bool | None = None) -> dict:
    body = {"id": message.id, "name": message.name, "idempotencyKey": message.idempotency_key,
            "state": messages.state_of(message), "outcome": message.outcome, "businessKey": message.business_key,
            "correlationKeys": message.correlation_keys or {}, "processKey": message.process_key,
            "site": message.site, "instanceId": message.instance_id, "elementIds": message.element_ids or [],
            "variableNames": sorted(message.variables or {}), "receivedAt": _time(message.received_at),
            "receivedBy": message.received_by, "expiresAt": _time(message.expires_at),
            "deliveredAt": _time(message.delivered_at), "lastError": message.last_error}
    if duplicate is not None:
        body["duplicate"] = duplicate
    return body


@api.post("/messages")
def send_message():
    body = json_body()
    key = request.headers.get("Idempotency-Key") or body.get("idempotencyKey")
    if request.headers.get("Idempotency-Key") and body.get("idempotencyKey") not in (None, key):
        raise Invalid("the Idempotency-Key header and the idempotencyKey field differ")
    receipt = messages.receive_message(messages.MessageRequest(
        name=body.get("name"), idempotency_key=key, business_key=body.get("businessKey"),
        correlation_keys=body.get("correlationKeys"), variables=body.get("variables"),
        process_key=body.get("processKey"), site=body.get("site"), ttl_seconds=body.get("ttlSeconds")),
        actor=current_principal())
    message = receipt.message
    if receipt.duplicate:
        status = 200
    else:
        status = STATUS.get(message.outcome, 202)  # 202: kept until an instance waits for it
    return jsonify(message_json(message, receipt.duplicate)), status


@api.get("/messages")
def list_messages():
    found = messages.list_messages(current_principal(), state=request.args.get("state") or None,
                                   name=request.args.get("name"), business_key=request.args.get("businessKey"),
                                   limit=_int_arg("limit", 100, 1000), offset=_int_arg("offset", 0, 10**9))
    return jsonify([message_json(m) for m in found])


@api.get("/process-instances/<instance_id>/message-subscriptions")
def instance_subscriptions(instance_id: str):
    instance = instances.get_instance(instance_id, current_principal())
    return jsonify([{"messageName": s.message_name, "elementId": s.element_id, "kind": s.kind,
                     "businessKey": s.business_key, "since": _time(s.created_at)}
                    for s in messages.instance_subscriptions(instance.id)])


@api.get("/messages/<message_id>")
def get_message(message_id: str):
    return jsonify(message_json(messages.get_message(message_id, current_principal())))


# --- the OpenAPI document ------------------------------------------------------

_S, _T, _NS = openapi._string, openapi.TIME, openapi.NULLABLE_STRING
openapi.SCHEMAS.update({
    "SendMessage": {
        "type": "object", "required": ["name"],
        "properties": {
            "name": _S("the message name (the bpmn:message name in the diagram)", maxLength=200),
            "idempotencyKey": _S("required here or as the Idempotency-Key header", maxLength=200),
            "businessKey": _S("only instances with this business key", maxLength=200),
            "correlationKeys": {**openapi.JSON_OBJECT, "description": "process variables the instance must have "
                                                                      "with exactly these values"},
            "processKey": _S("only this process"), "site": _S("only this site; required to start an instance"),
            "variables": {**openapi.JSON_OBJECT, "description": "become process variables (at most 256 KiB)"},
            "ttlSeconds": {"type": "integer", "minimum": 0, "description": "how long to keep it if no instance "
                                                                           "waits (default LANES_MESSAGE_TTL_SECONDS)"}},
    },
    "Message": {
        "type": "object", "required": ["id", "name", "idempotencyKey", "state"],
        "properties": {"id": _S(), "name": _S(), "idempotencyKey": _S(),
                       "state": _S(enum=list(messages.STATES)),
                       "outcome": {"type": ["string", "null"], "enum": ["started", "correlated", None]},
                       "businessKey": _NS, "correlationKeys": openapi.JSON_OBJECT, "processKey": _NS, "site": _NS,
                       "instanceId": _NS, "elementIds": {"type": "array", "items": _S()},
                       "variableNames": {"type": "array", "items": _S()}, "receivedAt": _T, "receivedBy": _S(),
                       "expiresAt": _T, "deliveredAt": openapi.NULLABLE_TIME, "lastError": _NS,
                       "duplicate": {"type": "boolean", "description": "true: the idempotency key was seen before; "
                                                                       "nothing happened this time"}},
    },
})
openapi.PATHS.update({
    "/messages": {
        "post": {
            "summary": "Send a message (an event such as payment_received): start an instance at a message start "
                       "event, move the one instance waiting for it, or keep it until one waits",
            "operationId": "sendMessage", "tags": ["messages"],
            "parameters": [openapi._param("Idempotency-Key", "header", "required (or idempotencyKey in the body); "
                                          "a repeat is acknowledged with the first outcome and does nothing")],
            "requestBody": openapi._json_request(openapi._ref("SendMessage")),
            "responses": {**openapi._ok("Moved a waiting instance, or a repeated key (duplicate: true)",
                                        openapi._ref("Message")),
                          **openapi._ok("Started an instance", openapi._ref("Message"), "201"),
                          **openapi._ok("Kept: no instance waits for it yet", openapi._ref("Message"), "202"),
                          **openapi._problems(403, 409, 413, 422)},
        },
        "get": {"summary": "Messages (admins): ?state=pending|expired|delivered|failed",
                "operationId": "listMessages", "tags": ["messages"],
                "parameters": [openapi._param("state"), openapi._param("name"), openapi._param("businessKey"),
                               *openapi.PAGING],
                "responses": {**openapi._ok("Messages, newest first", openapi._array("Message")),
                              **openapi._problems(403, 422)}},
    },
    "/process-instances/{instance_id}/message-subscriptions": {
        "get": {"summary": "The messages an instance waits for now", "operationId": "getProcessInstanceSubscriptions",
                "tags": ["messages"], "parameters": [openapi.INSTANCE_ID],
                "responses": {**openapi._ok("Message waits", {"type": "array", "items": {"type": "object", "properties": {
                    "messageName": _S(), "elementId": _S(), "kind": _S(enum=["start", "catch", "receive", "boundary"]),
                    "businessKey": _NS, "since": _T}}}), **openapi._problems(404)}},
    },
    "/messages/{message_id}": {
        "get": {"summary": "A message (its sender or an admin)", "operationId": "getMessage", "tags": ["messages"],
                "parameters": [openapi._param("message_id", "path")],
                "responses": {**openapi._ok("The message", openapi._ref("Message")), **openapi._problems(404)}},
    },
})
