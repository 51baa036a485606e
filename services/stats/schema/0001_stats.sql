-- Read models of the stats service (see services/stats/README.md). All of them
-- are projections of the log: disposable and rebuildable (`vigil replay`).
-- Counter tables are sums over findings; rows whose counts fall to zero are
-- deleted, so a rebuild gives the very same rows as live projection.

CREATE TABLE stats_findings (
    workspace_id text        NOT NULL,
    fingerprint  text        NOT NULL,
    asset_id     text        NOT NULL,
    asset_kind   text        NOT NULL,
    asset_key    text        NOT NULL,
    port         integer,
    protocol     text,
    severity     text        NOT NULL,
    status       text        NOT NULL,
    cve          text[]      NOT NULL DEFAULT '{}',
    cwe          text[]      NOT NULL DEFAULT '{}',
    first_seen   timestamptz NOT NULL,
    closed_at    timestamptz,
    position     bigint      NOT NULL,
    PRIMARY KEY (workspace_id, fingerprint)
);
CREATE INDEX stats_findings_sla_idx ON stats_findings (workspace_id, status, severity, first_seen);

CREATE TABLE stats_workspaces (
    workspace_id text             PRIMARY KEY,
    risk_points  bigint           NOT NULL DEFAULT 0,
    risk_score   double precision NOT NULL DEFAULT 0,
    position     bigint           NOT NULL
);

CREATE TABLE stats_severity_status (
    workspace_id text    NOT NULL,
    severity     text    NOT NULL,
    status       text    NOT NULL,
    findings     integer NOT NULL,
    PRIMARY KEY (workspace_id, severity, status)
);

CREATE TABLE stats_assets (
    workspace_id  text             NOT NULL,
    asset_id      text             NOT NULL,
    asset_kind    text,
    asset_key     text,
    findings      integer          NOT NULL DEFAULT 0,
    open          integer          NOT NULL DEFAULT 0,
    open_critical integer          NOT NULL DEFAULT 0,
    open_high     integer          NOT NULL DEFAULT 0,
    open_medium   integer          NOT NULL DEFAULT 0,
    open_low      integer          NOT NULL DEFAULT 0,
    open_info     integer          NOT NULL DEFAULT 0,
    risk_points   integer          NOT NULL DEFAULT 0,
    risk_score    double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, asset_id)
);
CREATE INDEX stats_assets_risk_idx ON stats_assets (workspace_id, risk_points DESC, open DESC, asset_id);

CREATE TABLE stats_services (
    workspace_id  text    NOT NULL,
    asset_id      text    NOT NULL,
    port          integer NOT NULL,
    protocol      text    NOT NULL,
    name          text,
    state         text,
    detected      boolean NOT NULL DEFAULT false,
    findings      integer NOT NULL DEFAULT 0,
    open          integer NOT NULL DEFAULT 0,
    open_critical integer NOT NULL DEFAULT 0,
    open_high     integer NOT NULL DEFAULT 0,
    open_medium   integer NOT NULL DEFAULT 0,
    open_low      integer NOT NULL DEFAULT 0,
    open_info     integer NOT NULL DEFAULT 0,
    risk_points   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, asset_id, port, protocol)
);
CREATE INDEX stats_services_open_idx ON stats_services (workspace_id, open DESC, findings DESC);

CREATE TABLE stats_cves (
    workspace_id text    NOT NULL,
    cve          text    NOT NULL,
    findings     integer NOT NULL,
    open         integer NOT NULL,
    PRIMARY KEY (workspace_id, cve)
);
CREATE INDEX stats_cves_top_idx ON stats_cves (workspace_id, open DESC, findings DESC, cve);

CREATE TABLE stats_cwes (
    workspace_id text    NOT NULL,
    cwe          text    NOT NULL,
    findings     integer NOT NULL,
    open         integer NOT NULL,
    PRIMARY KEY (workspace_id, cwe)
);
CREATE INDEX stats_cwes_top_idx ON stats_cwes (workspace_id, open DESC, findings DESC, cwe);

CREATE TABLE stats_open_daily (
    workspace_id text    NOT NULL,
    day          date    NOT NULL,
    severity     text    NOT NULL,
    opened       integer NOT NULL,
    closed       integer NOT NULL,
    PRIMARY KEY (workspace_id, day, severity)
);

CREATE TABLE stats_mttr (
    workspace_id  text    NOT NULL,
    severity      text    NOT NULL,
    remediated    integer NOT NULL,
    total_seconds bigint  NOT NULL,
    PRIMARY KEY (workspace_id, severity)
);

-- Not a read model: which statistics position each workspace's last
-- StatsUpdated announced, and when (for the throttle). Kept across rebuilds.
CREATE TABLE stats_emissions (
    workspace_id text        PRIMARY KEY,
    position     bigint      NOT NULL,
    emitted_at   timestamptz NOT NULL
);
