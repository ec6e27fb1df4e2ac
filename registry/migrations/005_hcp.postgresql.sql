-- PostgreSQL variant of 005_hcp.sqlite.sql: every TEXT column in the "C"
-- collation, as 002 made them all.
-- The HCP drop-in (docs/hcp-compatibility.md).
--
-- registry_meta: this registry's settings kept in the store so that every
-- replica and the command line agree -- the organization and project ids HCP
-- clients address (UUIDs made on first start, or set with
-- --organization-id / --project-id) and when they were made.
CREATE TABLE registry_meta (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL
);

-- OAuth2 access tokens (POST /oauth2/token, client credentials): only the
-- SHA-256 of the token is kept, bound to the API token (by its hash) that
-- was presented as client id and secret. Revoking that API token deletes
-- its access tokens (and a token re-made under the same name has another
-- hash, so none of the old ones come back).
CREATE TABLE oauth_tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    api_hash   TEXT COLLATE "C" NOT NULL REFERENCES api_tokens(hash) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_tokens_api ON oauth_tokens(api_hash);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens(expires_at);

-- Run-task HMAC keys made with PATCH .../runtasks/hmac: the current one
-- (retired_at NULL) and those it replaced, accepted until retired_at plus
-- --hmac-rotation-grace. The key itself must be kept (an HMAC is checked
-- with it); it is never listed.
CREATE TABLE runtask_hmac_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    key        TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- What Packer says about a version and its builds: the template type of
-- CreateVersion, and the parent version and channel of an UpdateBuild made
-- from an hcp-packer-* data source (they give a version's parents their
-- UP_TO_DATE / OUT_OF_DATE status).
ALTER TABLE versions ADD COLUMN template_type TEXT COLLATE "C";
ALTER TABLE builds ADD COLUMN parent_version_id TEXT COLLATE "C";
ALTER TABLE builds ADD COLUMN parent_channel_id TEXT COLLATE "C";
CREATE INDEX builds_parent ON builds(parent_version_id);
