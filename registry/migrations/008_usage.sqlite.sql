-- SQLite variant; 008_usage.postgresql.sql is the same with the "C" collation
-- on every TEXT column (see 002).
--
-- Runs: one row per server-side evaluation -- a run-task delivery (keyed by
-- its task_result_id, so a delivery resumed after a crash updates its row)
-- or a POST /v1/scan with a workspace (run_id is then the row's own id). The
-- counts are the report's; result_id names its page in results while
-- --result-retention keeps it. Pruned with the usage rows (--usage-retention).
CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    source         TEXT NOT NULL,             -- run_task | scan
    task_result_id TEXT UNIQUE,               -- run-task deliveries only
    run_id         TEXT,
    organization   TEXT,
    workspace      TEXT,
    stage          TEXT NOT NULL,             -- pre_plan ... post_apply, or scan
    verdict        TEXT NOT NULL,             -- pass | warn | fail | error
    message        TEXT,
    resources      BIGINT NOT NULL DEFAULT 0,
    gated          BIGINT NOT NULL DEFAULT 0,
    images         BIGINT NOT NULL DEFAULT 0,
    count_info     BIGINT NOT NULL DEFAULT 0,
    count_warn     BIGINT NOT NULL DEFAULT 0,
    count_fail     BIGINT NOT NULL DEFAULT 0,
    result_id      TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX runs_created ON runs(created_at, id);
CREATE INDEX runs_workspace ON runs(workspace, created_at);

-- Usage: which workspace's resource used which registry image, one row per
-- (organization, workspace, resource address, image), upserted by every
-- evaluation that sees it (a plan scanned daily does not grow the table).
-- image_key is the image ID, or for a sensitive attribute "(sensitive)
-- BUCKET FINGERPRINT" with image NULL: the value itself is never stored.
-- version_id is not a foreign key: usage outlives a deleted version.
CREATE TABLE image_usage (
    organization TEXT NOT NULL,               -- '' when the evaluation named none
    workspace    TEXT NOT NULL,
    address      TEXT NOT NULL,
    image_key    TEXT NOT NULL,
    image        TEXT,
    bucket       TEXT NOT NULL,
    version      TEXT NOT NULL,               -- the version's name (v3)
    version_id   TEXT,
    first_seen   BIGINT NOT NULL,
    last_seen    BIGINT NOT NULL,
    last_run_id  TEXT,
    verdict      TEXT NOT NULL,               -- of the last run that saw it
    PRIMARY KEY (organization, workspace, address, image_key)
);
CREATE INDEX image_usage_version ON image_usage(version_id);
CREATE INDEX image_usage_bucket ON image_usage(bucket);
CREATE INDEX image_usage_last_seen ON image_usage(last_seen);
