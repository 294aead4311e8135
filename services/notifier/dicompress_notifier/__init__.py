"""dicompress notifier: relays each job's events to the websocket clients that subscribe to it.

Protocol v1, in full with examples: docs/notifier-protocol.md (and the `notifier` channel of
schemas/asyncapi.yaml). In short: connect to ``ws://HOST:PORT/ws`` with a bearer JWT (header,
or ``?token=`` for browsers); ``GET /healthz`` is 200 once the cache is warm.

Client frames (JSON text)::

    {"op": "subscribe", "job_id": "<uuid>"}                    # a snapshot, then what follows
    {"op": "subscribe", "job_id": "<uuid>", "since_seq": 41}   # exactly the events after 41
    {"op": "unsubscribe", "job_id": "<uuid>"}
    {"op": "cancel", "job_id": "<uuid>", "reason": "..."}      # reason optional

Server frames: ``subscribed``, ``snapshot`` (the projected row and the seq it reflects),
``event`` (the event as on Kafka), ``progress`` (a lagging client's SliceEncoded events folded
into one), ``figures`` (pace, ETA and ratio as the projection computed them at a seq, after the
events up to it), ``gap`` (a resume that cannot be served; a fresh snapshot follows),
``unsubscribed``, ``cancel-requested`` and ``error`` (with a stable ``code``; it never closes
the connection).

Guarantees: per subscription, every event after the snapshot's seq or since_seq exactly once,
in seq order, with no gap (or an explicit ``gap`` frame), then live ones until the terminal
event, which is always delivered. Only the token's tenant's jobs are ever sent.

Close codes: 1000 idle, 1001 shutting down, 1007 a text frame that is not UTF-8, 1008 token
expired, 1009 frame too big, 1011 internal error or no pong, 1013 too far behind (reconnect and
resume with the last seq).
"""
