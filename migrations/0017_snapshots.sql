-- aggregate snapshots: a command loading a long stream (an inventory gains an event with every
-- order) starts from the state folded up to `version` and reads only the events after it.
-- a cache beside the log, never part of it: no hash chain covers it, and deleting any row (or
-- all) only makes the next load replay its stream and take a new one. `format` is the
-- encoding's version: a reader expecting another ignores the row.
create table snapshots (
    stream_id text primary key,
    format integer not null,
    version bigint not null check (version > 0),
    position bigint not null,
    state jsonb not null,
    taken_at timestamptz not null default now()
);
