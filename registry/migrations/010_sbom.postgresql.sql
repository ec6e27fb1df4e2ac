-- SBOMs and their packages (issue 13). PostgreSQL variant of 010_sbom.sqlite.sql: every TEXT column
-- in the "C" collation, as 002 made them all.
-- An SBOM belongs to one build; its document is kept as it travels from
-- Packer's hcp-sbom provisioner: base64 of a zstd frame (zstd_b64), so the
-- store's text-only driver interface carries it and a download gives back
-- the uploader's bytes. Its packages are one row each, with denormalised
-- build, version and bucket ids so a search touches one table and its
-- index: name_lower (ASCII-lowercased in C) for `packages find` across the
-- whole registry, (bucket_id, name_lower) for a bucket's packages, sbom_id
-- (the primary key's prefix) for a build's. Versions are compared in C by
-- the package type's rules, so no version column is indexed.
-- Download tokens: only the SHA-256 of the random token is stored, with its
-- expiry; any replica serves a download it did not hand out.
CREATE TABLE sboms (
    id            TEXT COLLATE "C" PRIMARY KEY,
    build_id      TEXT COLLATE "C" NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    version_id    TEXT COLLATE "C" NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    bucket_id     TEXT COLLATE "C" NOT NULL REFERENCES buckets(id) ON DELETE CASCADE,
    name          TEXT COLLATE "C" NOT NULL,
    format        TEXT COLLATE "C" NOT NULL,             -- SPDX | CYCLONEDX
    spec_version  TEXT COLLATE "C" NOT NULL,             -- "SPDX-2.3", "1.5"
    zstd_b64      TEXT COLLATE "C" NOT NULL,
    json_bytes    BIGINT NOT NULL,
    sha256        TEXT COLLATE "C" NOT NULL,             -- of the JSON document
    package_count BIGINT NOT NULL,
    author_id     TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (build_id, name)
);
CREATE INDEX sboms_version ON sboms(version_id);
CREATE INDEX sboms_bucket ON sboms(bucket_id);

CREATE TABLE sbom_packages (
    sbom_id     TEXT COLLATE "C" NOT NULL REFERENCES sboms(id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    build_id    TEXT COLLATE "C" NOT NULL,
    version_id  TEXT COLLATE "C" NOT NULL,
    bucket_id   TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    name_lower  TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    purl        TEXT COLLATE "C" NOT NULL,
    type        TEXT COLLATE "C" NOT NULL,               -- the purl's type: deb, rpm, npm...; '' without one
    PRIMARY KEY (sbom_id, seq)
);
CREATE INDEX sbom_packages_name ON sbom_packages(name_lower);
CREATE INDEX sbom_packages_bucket_name ON sbom_packages(bucket_id, name_lower);

CREATE TABLE sbom_downloads (
    hash        TEXT COLLATE "C" PRIMARY KEY,            -- hex SHA-256 of the token; never the token
    sbom_id     TEXT COLLATE "C" NOT NULL REFERENCES sboms(id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sbom_downloads_expires ON sbom_downloads(expires_at);
