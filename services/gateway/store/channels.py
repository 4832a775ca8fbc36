"""The gateway's PostgreSQL notification channels (cerebro.runtime.notifications).

Writers notify inside their transaction, so every replica hears of a change when it commits:
credential changes invalidate the authentication caches at once, learning changes wake the
learning delivery worker and the subscribers' streams, shared emotion changes wake the
WatchSharedEmotionalState streams, and task changes wake the assignees' and watchers' streams.
Notifications are a fast path only: what they announce is also found by cache expiry and by polls.
"""

from __future__ import annotations

# Payload "key:<key_id>", "cert:<identity>" or "grants:<grantee namespace>".
CREDENTIALS_CHANNEL = "cerebro_gateway_credentials"
# Payload "" (a delivery waits to be stored) or a namespace (a delivery of it was stored).
LEARNINGS_CHANNEL = "cerebro_gateway_learnings"
# Payload: the namespace whose shared emotion changed.
EMOTIONS_CHANNEL = "cerebro_gateway_emotions"
# Payload "instance:<instance name>" (a task was assigned to it) or "task:<task id>" (the task changed).
TASKS_CHANNEL = "cerebro_gateway_tasks"
