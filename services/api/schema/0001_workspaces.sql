-- Read model of workspaces, kept by the `workspaces` projection.
CREATE TABLE api_workspaces (
    workspace_id text        PRIMARY KEY,
    name         text        NOT NULL,
    description  text        NOT NULL,
    created_at   timestamptz NOT NULL,
    created_by   text,
    position     bigint      NOT NULL
);
