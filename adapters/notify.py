"""Notifications (e-mail, message queues)."""
from __future__ import annotations

from .contract import Field, Operation, operations
from .http import HttpAdapter
from .sandbox import SandboxAdapter

SYSTEM = "notify"

OPERATIONS = operations(
    Operation("send_email",
              [Field("to", "string"), Field("subject", "string"), Field("body", "string")],
              [Field("message_id", "string")],
              "Send an e-mail."),
    Operation("send_queue_message",
              [Field("queue", "string"), Field("payload", "object")],
              [Field("message_id", "string")],
              "Put a JSON message on a named queue."),
)


class NotifySandbox(SandboxAdapter):
    """Sends nothing: the effects table is the outbox."""

    name = SYSTEM
    operations = OPERATIONS

    def _send_email(self, inputs, ref):
        return {"message_id": ref("MSG")}

    def _send_queue_message(self, inputs, ref):
        return {"message_id": ref("QMSG")}


class NotifyHttp(HttpAdapter):
    name = SYSTEM
    operations = OPERATIONS
