-- one round trip for what an append does under the append lock before it inserts: take the
-- lock (held until commit, see events/src/postgres.rs), then read the global hash chain's
-- newest link. the read must see every append committed before the lock was granted, and a
-- statement's snapshot is taken when it starts, before the lock is waited for; a volatile
-- plpgsql function takes a fresh snapshot for each statement it runs, so its select runs
-- after the lock is held.
create function commerce_append_head(lock_key bigint) returns bytea
language plpgsql volatile as $$
begin
    perform pg_advisory_xact_lock(lock_key);
    return (select global_hash from events order by global_position desc limit 1);
end
$$;
