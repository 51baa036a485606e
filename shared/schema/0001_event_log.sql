-- The append-only event log: the single source of truth.
CREATE TABLE events (
    position        bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL CHECK (stream_version > 0),
    workspace_id    text        NOT NULL,
    event_type      text        NOT NULL,
    schema_version  smallint    NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_workspace_position_idx ON events (workspace_id, position);

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % is not allowed on events', TG_OP;
END;
$$;
CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Where each projection has got to, per workspace; advanced in the same
-- transaction as the projection's own tables.
CREATE TABLE projection_checkpoints (
    projection   text   NOT NULL,
    workspace_id text   NOT NULL,
    position     bigint NOT NULL,
    PRIMARY KEY (projection, workspace_id)
);

-- How far the relay has published the log to JetStream, one row per stream:
-- the last position of a batch whose every message was acknowledged.
CREATE TABLE relay_checkpoint (
    relay     text        PRIMARY KEY,
    position  bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
