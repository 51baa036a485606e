-- Read models of the ingest service (see services/ingest/README.md for what
-- each column means). All of them are projections of the log: disposable and
-- rebuildable with `vigil replay`.

CREATE TABLE ingest_scans (
    scan_id            text        PRIMARY KEY,
    workspace_id       text        NOT NULL,
    filename           text        NOT NULL,
    object_name        text        NOT NULL,
    size               bigint      NOT NULL,
    sha256             text        NOT NULL,
    format_hint        text,
    scanner_hint       text,
    scope              text,
    status             text        NOT NULL CHECK (status IN ('queued', 'parsing', 'applied', 'failed')),
    attempts           integer     NOT NULL DEFAULT 0,
    bytes_read         bigint      NOT NULL DEFAULT 0,
    items              bigint      NOT NULL DEFAULT 0,
    format             text,
    scanner            text,
    hosts              integer     NOT NULL DEFAULT 0,
    services           integer     NOT NULL DEFAULT 0,
    findings           integer     NOT NULL DEFAULT 0,
    findings_new       integer     NOT NULL DEFAULT 0,
    findings_observed  integer     NOT NULL DEFAULT 0,
    findings_reopened  integer     NOT NULL DEFAULT 0,
    findings_closed    integer     NOT NULL DEFAULT 0,
    findings_unchanged integer     NOT NULL DEFAULT 0,
    duplicates         integer     NOT NULL DEFAULT 0,
    duplicate_of       text,
    reason             text,
    uploaded_at        timestamptz NOT NULL,
    uploaded_by        text,
    started_at         timestamptz,
    finished_at        timestamptz,
    position           bigint      NOT NULL
);
CREATE INDEX ingest_scans_workspace_idx ON ingest_scans (workspace_id, uploaded_at DESC, scan_id DESC);
CREATE INDEX ingest_scans_sha256_idx ON ingest_scans (workspace_id, sha256) WHERE status = 'applied';

CREATE TABLE ingest_hosts (
    workspace_id  text        NOT NULL,
    asset_id      text        NOT NULL,
    kind          text        NOT NULL,
    key           text        NOT NULL,
    address       text,
    hostnames     text[]      NOT NULL DEFAULT '{}',
    os            text,
    mac           text,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    first_scan_id text        NOT NULL,
    last_scan_id  text        NOT NULL,
    position      bigint      NOT NULL,
    PRIMARY KEY (workspace_id, asset_id)
);
CREATE INDEX ingest_hosts_key_idx ON ingest_hosts (workspace_id, kind, key);
CREATE INDEX ingest_hosts_last_seen_idx ON ingest_hosts (workspace_id, last_seen DESC, asset_id);

CREATE TABLE ingest_services (
    workspace_id  text        NOT NULL,
    asset_id      text        NOT NULL,
    port          integer     NOT NULL,
    protocol      text        NOT NULL,
    state         text        NOT NULL,
    name          text,
    product       text,
    version       text,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    first_scan_id text        NOT NULL,
    last_scan_id  text        NOT NULL,
    position      bigint      NOT NULL,
    PRIMARY KEY (workspace_id, asset_id, port, protocol)
);
CREATE INDEX ingest_services_port_idx ON ingest_services (workspace_id, port, protocol);

-- The text a finding is searched by (array_to_string is only STABLE, hence the
-- IMMUTABLE wrapper a generated column needs; it only ever sees text arrays).
CREATE FUNCTION ingest_finding_search(title text, cve text[], asset_key text, description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, array_to_string(cve, ' ')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(asset_key, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(left(description, 100000), '')), 'C')
$$;

CREATE TABLE ingest_findings (
    workspace_id      text        NOT NULL,
    fingerprint       text        NOT NULL,
    asset_id          text        NOT NULL,
    asset_kind        text        NOT NULL,
    asset_key         text        NOT NULL,
    port              integer,
    protocol          text,
    title             text        NOT NULL,
    severity          text        NOT NULL CHECK (severity IN ('info', 'low', 'medium', 'high', 'critical')),
    severity_rank     smallint    NOT NULL,
    rule_id           text,
    location          text,
    description       text,
    solution          text,
    "references"      text[]      NOT NULL DEFAULT '{}',
    cve               text[]      NOT NULL DEFAULT '{}',
    cwe               text[]      NOT NULL DEFAULT '{}',
    cvss_vector       text,
    cvss_score        double precision,
    evidence          text,
    status            text        NOT NULL CHECK (status IN ('open', 'fixed', 'reopened', 'risk_accepted', 'false_positive')),
    status_comment    text,
    status_actor      text,
    status_changed_at timestamptz,
    scanners          text[]      NOT NULL DEFAULT '{}',
    scopes            text[]      NOT NULL DEFAULT '{}',
    observations      integer     NOT NULL DEFAULT 1,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    closed_at         timestamptz,
    first_scan_id     text        NOT NULL,
    last_scan_id      text        NOT NULL,
    last_scan_sha256  text        NOT NULL,
    version           integer     NOT NULL,
    position          bigint      NOT NULL,
    search            tsvector GENERATED ALWAYS AS (
        ingest_finding_search(title, cve, asset_key, description)
    ) STORED,
    PRIMARY KEY (workspace_id, fingerprint)
);
CREATE INDEX ingest_findings_severity_idx ON ingest_findings (workspace_id, severity_rank DESC, fingerprint);
CREATE INDEX ingest_findings_status_idx ON ingest_findings (workspace_id, status, fingerprint);
CREATE INDEX ingest_findings_asset_idx ON ingest_findings (workspace_id, asset_id, status);
CREATE INDEX ingest_findings_first_seen_idx ON ingest_findings (workspace_id, first_seen DESC, fingerprint);
CREATE INDEX ingest_findings_last_seen_idx ON ingest_findings (workspace_id, last_seen DESC, fingerprint);
CREATE INDEX ingest_findings_cve_idx ON ingest_findings USING gin (cve);
CREATE INDEX ingest_findings_search_idx ON ingest_findings USING gin (search);

-- Parsed items of imports in progress, keyed by scan: the import job stages
-- a file here in chunks (memory stays flat) and reads it back grouped by
-- identity when it applies the scan. Not a read model; rows live only while
-- an import runs, so the table is unlogged.
CREATE UNLOGGED TABLE ingest_staging (
    scan_id text     NOT NULL,
    kind    smallint NOT NULL,
    key     text     NOT NULL,
    seq     integer  NOT NULL,
    payload bytea    NOT NULL,
    PRIMARY KEY (scan_id, kind, key, seq)
);
