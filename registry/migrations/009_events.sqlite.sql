-- Event notifications (docs/events.md): webhooks, the events every registry
-- change makes, and the outbox of deliveries, written in the same
-- transaction as the change itself (registry/event.c).
--
-- webhooks        one row per receiver; its secret is sent (as the HMAC key)
--                 and so kept as it is, never listed. The lease columns make
--                 one sender at a time per webhook (registry/outbox.c), which
--                 keeps its deliveries in order.
-- events          the envelope of one HCP event (body: JSON), in commit order
--                 (seq). Made only when some webhook is subscribed to it.
-- event_deliveries one per (webhook, event) -- and one more per redelivery --
--                 in the webhook's order (seq); state 0 pending, 1 delivered,
--                 2 failed. next_at: when the next attempt may go.
-- event_attempts  every attempt: time, HTTP status (0: none), latency, the
--                 first 512 bytes of the answer, or the error.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    actions     TEXT NOT NULL,  -- JSON array of event actions; [] = every action
    buckets     TEXT NOT NULL,  -- JSON array of bucket names; [] = every bucket
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE TABLE events (
    id          TEXT PRIMARY KEY,  -- "packer.event:<ULID>", the envelope's event_id
    seq         BIGINT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    action      TEXT NOT NULL,
    bucket      TEXT,
    version_id  TEXT,
    author      TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE TABLE event_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    state            INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_at          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    first_attempt_at BIGINT,
    finished_at      BIGINT,
    UNIQUE (webhook_id, seq)
);
CREATE INDEX event_deliveries_state ON event_deliveries(webhook_id, state, seq);
CREATE INDEX event_deliveries_event ON event_deliveries(event_id);
CREATE TABLE event_attempts (
    id          TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES event_deliveries(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    status      INTEGER NOT NULL,
    latency_ms  BIGINT NOT NULL,
    error       TEXT,
    response    TEXT,
    owner       TEXT
);
CREATE INDEX event_attempts_delivery ON event_attempts(delivery_id, at);
