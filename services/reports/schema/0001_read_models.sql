-- Read models of the reports service (see services/reports/README.md). A
-- projection of the log: disposable and rebuildable with `vigil replay`.

CREATE TABLE reports_reports (
    report_id     text        PRIMARY KEY,
    workspace_id  text        NOT NULL,
    format        text        NOT NULL,
    template      text        NOT NULL,
    title         text,
    filters       jsonb       NOT NULL DEFAULT '{}',
    as_of         bigint      NOT NULL,
    status        text        NOT NULL CHECK (status IN ('queued', 'rendering', 'generated', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    stage         text,
    percent       integer     NOT NULL DEFAULT 0,
    object_name   text,
    filename      text,
    content_type  text,
    size          bigint,
    sha256        text,
    findings      integer,
    reason        text,
    requested_at  timestamptz NOT NULL,
    requested_by  text,
    started_at    timestamptz,
    finished_at   timestamptz,
    position      bigint      NOT NULL
);
CREATE INDEX reports_reports_workspace_idx ON reports_reports (workspace_id, requested_at DESC, report_id DESC);
