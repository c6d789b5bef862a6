-- one encryption key per person (data subject), outside the event log: personal fields are
-- stored in events sealed with their subject's key, and erasing a person destroys the key
-- (the row stays, keyless, so nothing is ever sealed for them again). the log's bytes, and so
-- its hash chains, never change.
create table personal_keys (
    subject uuid primary key,
    key bytea,
    created_at timestamptz not null default now(),
    erased_at timestamptz,
    check ((key is null) = (erased_at is not null))
);
