-- When Packer built each build: the manifest's build_time, kept by import.
-- The freshness policy ages a version from its newest build_time, or from
-- completed_at when none is known (builds published through the API, and
-- builds imported before this migration). NULL = not known.
ALTER TABLE builds ADD COLUMN built_at BIGINT;
