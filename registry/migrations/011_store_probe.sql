-- One row that /readyz rewrites (at most about once a second per server) to
-- learn whether the store takes writes right now: a full disk, a read-only
-- file system or a PostgreSQL server in recovery fail the write, and the
-- server stops saying it is ready for run tasks (registry_probe_write).
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    written_at BIGINT NOT NULL
);
