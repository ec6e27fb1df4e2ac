-- imagegate registry schema, version 1.
-- Common subset of SQLite 3.40 and PostgreSQL 15 (see registry/db.h):
-- ids are TEXT ULIDs, times BIGINT ms since the epoch, booleans INTEGER 0/1,
-- JSON as TEXT. Case-insensitive matching uses *_lower columns filled in C.

CREATE TABLE buckets (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    labels       TEXT NOT NULL DEFAULT '{}',
    next_number  BIGINT NOT NULL DEFAULT 1,   -- version counter, never goes back
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE versions (
    id           TEXT PRIMARY KEY,
    bucket_id    TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    fingerprint  TEXT NOT NULL,
    number       BIGINT,                      -- NULL until every build is done
    author_id    TEXT NOT NULL,
    completed_at BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (bucket_id, fingerprint),
    UNIQUE (bucket_id, number)
);

CREATE TABLE builds (
    id             TEXT PRIMARY KEY,
    version_id     TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    component_type TEXT NOT NULL,
    platform       TEXT NOT NULL,
    status         TEXT NOT NULL,
    labels         TEXT NOT NULL DEFAULT '{}',
    packer_run_uuid TEXT NOT NULL DEFAULT '',
    source_external_identifier TEXT,
    source_lower   TEXT,                      -- ASCII-lowercased copy for parent lookups
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX builds_version ON builds(version_id);
CREATE INDEX builds_source ON builds(source_lower);

CREATE TABLE artifacts (
    id             TEXT PRIMARY KEY,
    build_id       TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    external_identifier TEXT NOT NULL,
    external_lower TEXT NOT NULL,             -- ASCII-lowercased copy (Azure IDs vary in case)
    region         TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);
CREATE INDEX artifacts_build ON artifacts(build_id);
CREATE INDEX artifacts_external ON artifacts(external_lower);

-- One row per revocation a version carries: its own (MANUAL, origin = itself)
-- and one INHERITED row per revoked ancestor. The effective revocation is the
-- earliest row; restoring version X deletes every row whose origin is X.
-- origin_* columns are a snapshot so an inherited row still names its origin
-- after that version was deleted.
CREATE TABLE revocations (
    id                TEXT PRIMARY KEY,
    version_id        TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    origin_version_id TEXT NOT NULL,
    origin_bucket     TEXT NOT NULL,
    origin_name       TEXT NOT NULL,
    origin_fingerprint TEXT NOT NULL,
    type              TEXT NOT NULL,          -- MANUAL | INHERITED
    revoke_at         BIGINT NOT NULL,
    message           TEXT,
    author            TEXT NOT NULL,
    skip_descendants  INTEGER NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    UNIQUE (version_id, origin_version_id)
);
CREATE INDEX revocations_origin ON revocations(origin_version_id);

CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    bucket_id   TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    version_id  TEXT REFERENCES versions(id) ON DELETE SET NULL,
    restricted  INTEGER NOT NULL DEFAULT 0,
    author_id   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (bucket_id, name)
);
CREATE INDEX channels_version ON channels(version_id);

CREATE TABLE channel_history (
    id           TEXT PRIMARY KEY,
    channel_id   TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,             -- per channel, increasing
    action       TEXT NOT NULL,               -- set | unset | rollback
    version_id   TEXT REFERENCES versions(id) ON DELETE SET NULL,
    version_name TEXT,
    fingerprint  TEXT,
    author_id    TEXT NOT NULL,
    assigned_at  BIGINT NOT NULL,
    UNIQUE (channel_id, seq)
);

CREATE TABLE audit (
    id      TEXT PRIMARY KEY,                 -- ULID (wall clock): insertion order
    at      BIGINT NOT NULL,
    author  TEXT NOT NULL,
    action  TEXT NOT NULL,
    bucket  TEXT,
    target  TEXT,
    detail  TEXT
);
CREATE INDEX audit_at ON audit(at);

CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the secret; never the secret
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE deliveries (
    task_result_id TEXT PRIMARY KEY,
    run_id       TEXT,
    stage        TEXT,
    body         TEXT,                        -- erased when finished or abandoned
    state        INTEGER NOT NULL DEFAULT 0,  -- 0 queued, 1 done, 2 failed
    lease_owner  TEXT,
    lease_until  BIGINT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    received_at  BIGINT NOT NULL,
    finished_at  BIGINT,
    verdict      TEXT
);
CREATE INDEX deliveries_state ON deliveries(state, received_at);
