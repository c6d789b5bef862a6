-- readers of the log (the embedded projection feed, the relay) wake on the commit of an
-- append instead of polling: one notification per appending statement, delivered by
-- postgresql only after the transaction commits (identical notifications of one transaction
-- are folded into one). polling stays as the fallback for a lost notification.
create function commerce_notify_appended() returns trigger language plpgsql as $$
begin
    perform pg_notify('commerce_events_appended', '');
    return null;
end
$$;

create trigger events_appended after insert on events
    for each statement execute function commerce_notify_appended();
