"""dicompress notifier: relays each job's events to the websocket clients that subscribe to it.

Protocol v1
-----------
Connect to ``ws://HOST:PORT/ws`` with a bearer JWT, either as ``Authorization: Bearer <jwt>``
or, for browsers (which cannot set headers), as ``?token=<jwt>``. A missing or invalid token
is refused at the handshake with HTTP 401. ``GET /healthz`` answers 200 once the cache is warm,
503 before.

Client frames (JSON text)::

    {"op": "subscribe", "job_id": "<uuid>", "since_seq": -1}   # since_seq optional, default -1
    {"op": "unsubscribe", "job_id": "<uuid>"}

Server frames::

    {"op": "subscribed", "job_id": "<uuid>"}
    {"op": "event", "job_id": "<uuid>", "seq": 7, "event": {...the event as on Kafka...}}
    {"op": "unsubscribed", "job_id": "<uuid>"}
    {"op": "error", "code": "<code>", "message": "...", "job_id": "<uuid>"}  # job_id if any

Error codes: ``bad-frame`` (not JSON, not an object, bad job_id or since_seq), ``unknown-op``,
``not-found`` (the job belongs to another tenant), ``already-subscribed``,
``too-many-subscriptions``. An error frame never closes the connection.

Guarantees: a subscriber gets every event of its job with seq > since_seq exactly once, in seq
order, with no gaps, however late it subscribes, then the live ones, and the subscription ends
after the terminal event (JobCompleted, JobFailed, JobCancelled); the job may then be subscribed
again. Only events of the token's tenant are ever sent. A job nobody has heard of yet is
waited for. To resume after a disconnect, subscribe with the last seq received.

Close codes: 1001 the notifier is shutting down; 1013 the client fell too far behind (reconnect
and resume); 1011 an internal error (reconnect and resume); 1008 the token expired.
"""
