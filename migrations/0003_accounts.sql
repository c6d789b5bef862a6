-- accounts and access.

-- password hashes (argon2id, phc strings), only where login needs them: never in events,
-- kafka records, logs or api responses. keyed by account id; the email -> account mapping is
-- the event store's email claim streams, so a registration that lost a race leaves at most an
-- orphan row here that no login can reach.
create table credentials (
    account_id    uuid primary key,
    password_hash text not null,
    updated_at    timestamptz not null default now()
);

-- refresh tokens: only the sha-256 of each token is stored. tokens of one login form a
-- family; each use rotates to a new token of the family, and reusing a rotated token revokes
-- the whole family (it was stolen, or the legitimate client was).
create table refresh_tokens (
    token_hash bytea primary key,
    family_id  uuid not null,
    account_id uuid not null,
    issued_at  timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz,
    revoked_at timestamptz
);
create index refresh_tokens_family on refresh_tokens (family_id);
create index refresh_tokens_account on refresh_tokens (account_id);

-- accounts read model (admins' view).
create table accounts (
    account_id    uuid primary key,
    email         text not null,
    display_name  text not null,
    roles         text[] not null,
    closed        boolean not null default false,
    registered_at timestamptz not null,
    updated_at    timestamptz not null
);

-- products belong to the seller who listed them.
alter table catalog_products add column seller_id uuid;
