-- PostgreSQL only (registry/registry.c applies NNN_*.postgresql.sql files to
-- PostgreSQL stores and NNN_*.sqlite.sql files to SQLite stores; plain
-- NNN_*.sql files to both).
--
-- SQLite compares TEXT bytewise; a PostgreSQL database compares it with the
-- collation it was created with (en_US.UTF-8, an ICU locale...), which orders
-- 'Zeta' after 'alpha' and ignores '-' at first. Bucket, channel and token
-- lists, artifact matches and version parents are sorted by text columns, and
-- ids break ties: give every TEXT column the "C" collation so both stores
-- answer in the same order whatever the database's locale. A later migration
-- adding a TEXT column that is sorted or compared should do the same in its
-- .postgresql.sql variant.
ALTER TABLE buckets ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN name TYPE TEXT COLLATE "C",
    ALTER COLUMN description TYPE TEXT COLLATE "C",
    ALTER COLUMN labels TYPE TEXT COLLATE "C";
ALTER TABLE versions ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN bucket_id TYPE TEXT COLLATE "C",
    ALTER COLUMN fingerprint TYPE TEXT COLLATE "C",
    ALTER COLUMN author_id TYPE TEXT COLLATE "C";
ALTER TABLE builds ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN version_id TYPE TEXT COLLATE "C",
    ALTER COLUMN component_type TYPE TEXT COLLATE "C",
    ALTER COLUMN platform TYPE TEXT COLLATE "C",
    ALTER COLUMN status TYPE TEXT COLLATE "C",
    ALTER COLUMN labels TYPE TEXT COLLATE "C",
    ALTER COLUMN packer_run_uuid TYPE TEXT COLLATE "C",
    ALTER COLUMN source_external_identifier TYPE TEXT COLLATE "C",
    ALTER COLUMN source_lower TYPE TEXT COLLATE "C";
ALTER TABLE artifacts ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN build_id TYPE TEXT COLLATE "C",
    ALTER COLUMN external_identifier TYPE TEXT COLLATE "C",
    ALTER COLUMN external_lower TYPE TEXT COLLATE "C",
    ALTER COLUMN region TYPE TEXT COLLATE "C";
ALTER TABLE revocations ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN version_id TYPE TEXT COLLATE "C",
    ALTER COLUMN origin_version_id TYPE TEXT COLLATE "C",
    ALTER COLUMN origin_bucket TYPE TEXT COLLATE "C",
    ALTER COLUMN origin_name TYPE TEXT COLLATE "C",
    ALTER COLUMN origin_fingerprint TYPE TEXT COLLATE "C",
    ALTER COLUMN type TYPE TEXT COLLATE "C",
    ALTER COLUMN message TYPE TEXT COLLATE "C",
    ALTER COLUMN author TYPE TEXT COLLATE "C";
ALTER TABLE channels ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN bucket_id TYPE TEXT COLLATE "C",
    ALTER COLUMN name TYPE TEXT COLLATE "C",
    ALTER COLUMN version_id TYPE TEXT COLLATE "C",
    ALTER COLUMN author_id TYPE TEXT COLLATE "C";
ALTER TABLE channel_history ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN channel_id TYPE TEXT COLLATE "C",
    ALTER COLUMN action TYPE TEXT COLLATE "C",
    ALTER COLUMN version_id TYPE TEXT COLLATE "C",
    ALTER COLUMN version_name TYPE TEXT COLLATE "C",
    ALTER COLUMN fingerprint TYPE TEXT COLLATE "C",
    ALTER COLUMN author_id TYPE TEXT COLLATE "C";
ALTER TABLE audit ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN author TYPE TEXT COLLATE "C",
    ALTER COLUMN action TYPE TEXT COLLATE "C",
    ALTER COLUMN bucket TYPE TEXT COLLATE "C",
    ALTER COLUMN target TYPE TEXT COLLATE "C",
    ALTER COLUMN detail TYPE TEXT COLLATE "C";
ALTER TABLE api_tokens ALTER COLUMN name TYPE TEXT COLLATE "C",
    ALTER COLUMN role TYPE TEXT COLLATE "C",
    ALTER COLUMN hash TYPE TEXT COLLATE "C",
    ALTER COLUMN created_by TYPE TEXT COLLATE "C";
ALTER TABLE deliveries ALTER COLUMN task_result_id TYPE TEXT COLLATE "C",
    ALTER COLUMN run_id TYPE TEXT COLLATE "C",
    ALTER COLUMN stage TYPE TEXT COLLATE "C",
    ALTER COLUMN body TYPE TEXT COLLATE "C",
    ALTER COLUMN lease_owner TYPE TEXT COLLATE "C",
    ALTER COLUMN verdict TYPE TEXT COLLATE "C";
ALTER TABLE schema_migrations ALTER COLUMN name TYPE TEXT COLLATE "C";
