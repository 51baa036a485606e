-- Read models of the triggers service (projections of the log: disposable, rebuildable)
-- and the scheduler's bookkeeping.

-- One row per trigger, deleted ones included (their rows keep the cache marker moving).
CREATE TABLE triggers_definitions (
    trigger_id            text        PRIMARY KEY,
    workspace_id          text        NOT NULL,
    kind                  text        NOT NULL,
    definition            jsonb       NOT NULL,
    enabled               boolean     NOT NULL,
    deleted               boolean     NOT NULL DEFAULT false,
    version               integer     NOT NULL,
    active_since          timestamptz NOT NULL,
    active_since_position bigint      NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    position              bigint      NOT NULL
);
CREATE INDEX triggers_definitions_workspace_idx ON triggers_definitions (workspace_id, position);
CREATE INDEX triggers_definitions_live_idx ON triggers_definitions (kind) WHERE enabled AND NOT deleted;

-- One row per firing with its outcome (the gateway lists them); pending rows
-- are what the recovery sweep retries.
CREATE TABLE triggers_firings (
    firing_id         uuid             PRIMARY KEY,
    trigger_id        text             NOT NULL,
    workspace_id      text             NOT NULL,
    cause             text             NOT NULL,
    fired_at          timestamptz      NOT NULL,
    scheduled_for     timestamptz,
    source_event_id   uuid,
    source_event_type text,
    observed_value    double precision,
    status            text             NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    action_type       text,
    attempts          integer          NOT NULL DEFAULT 0,
    detail            text,
    reason            text,
    completed_at      timestamptz,
    event_id          uuid             NOT NULL,
    position          bigint           NOT NULL
);
CREATE INDEX triggers_firings_trigger_idx ON triggers_firings (trigger_id, fired_at DESC, firing_id);
CREATE INDEX triggers_firings_pending_idx ON triggers_firings (fired_at) WHERE status = 'pending';

-- Scheduler bookkeeping, not a projection: the last tick each schedule has dealt
-- with (fired or skipped). Its row lock serialises replicas deciding a tick.
CREATE TABLE triggers_schedule_state (
    trigger_id text        PRIMARY KEY,
    last_tick  timestamptz NOT NULL
);

-- Threshold bookkeeping: whether the bound was crossed at the last evaluation,
-- and how many crossings have fired (the n of the next firing's id).
CREATE TABLE triggers_threshold_state (
    trigger_id text    PRIMARY KEY,
    above      boolean NOT NULL DEFAULT false,
    crossings  integer NOT NULL DEFAULT 0
);
