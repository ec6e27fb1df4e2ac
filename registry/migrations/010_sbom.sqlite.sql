-- SBOMs and their packages (issue 13). SQLite variant; 010_sbom.postgresql.sql has the same
-- columns in the "C" collation (see 002); only SQLite clusters sbom_packages by name (below).
-- An SBOM belongs to one build; its document is kept as it travels from
-- Packer's hcp-sbom provisioner: base64 of a zstd frame (zstd_b64), so the
-- store's text-only driver interface carries it and a download gives back
-- the uploader's bytes. Its packages are one row each, with denormalised
-- build, version and bucket ids so a search touches one table and its
-- index: name_lower (ASCII-lowercased in C) for `packages find` across the
-- whole registry, (bucket_id, name_lower) for a bucket's packages, sbom_id
-- for a build's. Versions are compared in C by the package type's rules,
-- so no version column is indexed.
-- Download tokens: only the SHA-256 of the random token is stored, with its
-- expiry; any replica serves a download it did not hand out.
CREATE TABLE sboms (
    id            TEXT PRIMARY KEY,
    build_id      TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    version_id    TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    bucket_id     TEXT NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    format        TEXT NOT NULL,             -- SPDX | CYCLONEDX
    spec_version  TEXT NOT NULL,             -- "SPDX-2.3", "1.5"
    zstd_b64      TEXT NOT NULL,
    json_bytes    BIGINT NOT NULL,
    sha256        TEXT NOT NULL,             -- of the JSON document
    package_count BIGINT NOT NULL,
    author_id     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (build_id, name)
);
CREATE INDEX sboms_version ON sboms(version_id);
CREATE INDEX sboms_bucket ON sboms(bucket_id);

-- SQLite keeps a package's rows clustered by name (WITHOUT ROWID, the
-- primary key first by name_lower): the search reads one contiguous range
-- instead of a row per SBOM scattered over the table (5 000 versions x 500
-- packages: 52 ms of CPU before, docs/performance.md after).
CREATE TABLE sbom_packages (
    name_lower  TEXT NOT NULL,
    sbom_id     TEXT NOT NULL REFERENCES sboms(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    build_id    TEXT NOT NULL,
    version_id  TEXT NOT NULL,
    bucket_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    purl        TEXT NOT NULL,
    type        TEXT NOT NULL,               -- the purl's type: deb, rpm, npm...; '' without one
    PRIMARY KEY (name_lower, sbom_id, seq)
) WITHOUT ROWID;
CREATE INDEX sbom_packages_sbom ON sbom_packages(sbom_id, seq);
CREATE INDEX sbom_packages_bucket_name ON sbom_packages(bucket_id, name_lower);

CREATE TABLE sbom_downloads (
    hash        TEXT PRIMARY KEY,            -- hex SHA-256 of the token; never the token
    sbom_id     TEXT NOT NULL REFERENCES sboms(id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sbom_downloads_expires ON sbom_downloads(expires_at);
