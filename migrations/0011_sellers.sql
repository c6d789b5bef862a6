-- marketplace sellers: applications, verification, commission and suspension, from the seller
-- streams. the catalog leaves out the products of suspended sellers.
create table sellers (
    account_id    uuid primary key,
    store_name    text not null,
    description   text not null,
    status        text not null,
    commission_bp integer not null default 0,
    reason        text,
    applied_at    timestamptz not null,
    updated_at    timestamptz not null
);
create index sellers_status on sellers (status, applied_at);
