-- event store: append-only streams of business events.
--
-- streams holds the current version of every stream; an append locks and bumps it, which is
-- how expected-version checks are made race-free. events holds the envelopes themselves.

create table streams (
    stream_id text primary key,
    version   bigint not null check (version >= 0)
);

create table events (
    -- global order of the log. positions are assigned while holding a transaction-level
    -- advisory lock that is released only after commit, so a position becomes visible only
    -- after every smaller position has committed or rolled back (no late-committing gaps).
    global_position bigint generated always as identity primary key,
    event_id        uuid not null unique,
    stream_id       text not null,
    stream_version  bigint not null check (stream_version >= 1),
    event_type      text not null,
    schema_version  integer not null check (schema_version >= 1),
    payload         jsonb not null,
    -- correlation_id, causation_id, actor
    metadata        jsonb not null,
    recorded_at     timestamptz not null default clock_timestamp(),
    unique (stream_id, stream_version)
);

-- checkpoints of log followers that are not projections (the Kafka relay).
create table checkpoints (
    name       text primary key,
    position   bigint not null,
    updated_at timestamptz not null default now()
);
