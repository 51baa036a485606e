-- API tokens. Only a SHA-256 of each secret is kept; `prefix` is the
-- non-secret start of the token, shown in listings so people can tell them apart.
CREATE TABLE api_tokens (
    token_id     uuid        PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    workspace_id text,
    prefix       text        NOT NULL,
    secret_hash  bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
