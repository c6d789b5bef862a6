-- tamper evidence.
--
-- every event is chained to the previous event of its stream,
--     hash = sha256(previous hash of the stream || canonical bytes of the event),
-- and to the previous event of the global log,
--     global_hash = sha256(previous global_hash || hash).
-- both are computed by the writer while it holds the append lock (see events/src/chain.rs).
-- `commerce verify` recomputes them; streams.last_hash saves a lookup on append.
alter table streams add column last_hash bytea;
alter table events add column hash bytea, add column global_hash bytea;

-- auditors' order history: events of other streams that name an order (stock reservations,
-- releases, the cart checkout).
create index events_order_id on events ((payload->>'order_id')) where payload ? 'order_id';
