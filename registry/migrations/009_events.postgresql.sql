-- PostgreSQL variant of 009_events.sqlite.sql: every TEXT column in the "C"
-- collation, as 002 made them all.
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
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    url         TEXT COLLATE "C" NOT NULL,
    secret      TEXT COLLATE "C" NOT NULL,
    actions     TEXT COLLATE "C" NOT NULL,  -- JSON array of event actions; [] = every action
    buckets     TEXT COLLATE "C" NOT NULL,  -- JSON array of bucket names; [] = every bucket
    created_at  BIGINT NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL,
    lease_owner TEXT COLLATE "C",
    lease_until BIGINT
);
CREATE TABLE events (
    id          TEXT COLLATE "C" PRIMARY KEY,  -- "packer.event:<ULID>", the envelope's event_id
    seq         BIGINT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    action      TEXT COLLATE "C" NOT NULL,
    bucket      TEXT COLLATE "C",
    version_id  TEXT COLLATE "C",
    author      TEXT COLLATE "C" NOT NULL,
    body        TEXT COLLATE "C" NOT NULL
);
CREATE TABLE event_deliveries (
    id               TEXT COLLATE "C" PRIMARY KEY,
    webhook_id       TEXT COLLATE "C" NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id         TEXT COLLATE "C" NOT NULL REFERENCES events(id) ON DELETE CASCADE,
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
    id          TEXT COLLATE "C" PRIMARY KEY,
    delivery_id TEXT COLLATE "C" NOT NULL REFERENCES event_deliveries(id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    status      INTEGER NOT NULL,
    latency_ms  BIGINT NOT NULL,
    error       TEXT COLLATE "C",
    response    TEXT COLLATE "C",
    owner       TEXT COLLATE "C"
);
CREATE INDEX event_attempts_delivery ON event_attempts(delivery_id, at);
