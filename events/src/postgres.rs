//! PostgreSQL event store.
//!
//! # Commit order
//! Positions come from an identity column, and sequences hand out numbers in call order, not
//! commit order: a reader that remembers "the last position I saw" can skip an event whose
//! transaction took a smaller number but committed later. Filtering by transaction id against
//! the snapshot's `xmin` is not enough on its own either, because a transaction that started
//! early (small xid) may take its positions late.
//!
//! This store therefore takes a transaction-level advisory lock right before inserting events
//! and keeps it until commit. PostgreSQL marks a transaction visible before it releases its
//! locks, so the next appender can only take positions once every smaller position is visible
//! (or rolled back). Readers can then page through the log by position alone. The lock covers
//! only the insert and the commit; loading aggregates and deciding happen outside it, and the
//! per-stream version checks use row locks taken earlier, in stream-id order (no deadlocks).
//!
//! # Group commit
//! Appends of one process go through one writer task. Whatever arrived while a transaction was
//! committing goes into the next one, together: one transaction, one WAL flush and the same
//! five round trips for the whole group. Each append is still checked on its own against the
//! versions the appends before it in the group leave, so a conflict refuses that append alone
//! and names the current version. An append is answered only after its group committed. A
//! group that fails as a whole (an event id already stored) is retried one append at a time,
//! so only the culprit fails. Several processes still serialize on the advisory lock.
//!
//! Metrics: `commerce_append_group_size` (appends per transaction),
//! `commerce_append_commit_seconds` (one group, begin to commit), `commerce_append_events_total`
//! and `commerce_append_conflicts_total`.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::chain;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use uuid::Uuid;

use crate::envelope::{AppendOutcome, Metadata, RecordedEvent, StreamAppend};
use crate::store::{check_distinct, version_matches, EventStore, Snapshot, StoreError};

/// The engine's whole schema (event store, checkpoints, read models), from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Advisory lock key that serializes position assignment ("commerce" in ASCII).
const APPEND_LOCK: i64 = 0x636f_6d6d_6572_6365;

/// Opens a pool, creating the database first when it does not exist.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    use sqlx::migrate::MigrateDatabase;
    if !sqlx::Postgres::database_exists(url).await? {
        tracing::info!("creating database");
        sqlx::Postgres::create_database(url).await.or_else(|e| {
            // Another process may have created it in the meantime.
            match &e {
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04") => Ok(()),
                _ => Err(e),
            }
        })?;
    }
    let options: PgConnectOptions = url.parse()?;
    let options = options.disable_statement_logging();
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(options)
        .await
}

/// Whether a database error says the database could not be reached, is overloaded or is
/// shutting down (worth a retry later), rather than that the statement itself failed.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        // Class 08: connection exceptions; 53: insufficient resources; 57P: operator
        // intervention (shutdown); 40001 and 40P01: serialization failure and deadlock.
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || c == "40001"
                || c == "40P01"
        }),
        _ => false,
    }
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// The channel an append notifies on commit (a statement trigger on `events`, migration
/// 0016): PostgreSQL delivers it only once the append's transaction has committed.
pub const APPENDED_CHANNEL: &str = "commerce_events_appended";

/// Event store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgEventStore {
    pool: PgPool,
    /// Started by the first reader that asks for it: one listening connection per store.
    appended: Arc<OnceLock<crate::AppendSignal>>,
    /// The group-commit writer, started by the first append.
    writer: Arc<OnceLock<tokio::sync::mpsc::Sender<Pending>>>,
}

impl PgEventStore {
    /// Wraps a pool whose database has been migrated.
    pub fn new(pool: PgPool) -> Self {
        PgEventStore {
            pool,
            appended: Arc::default(),
            writer: Arc::default(),
        }
    }

    /// The group-commit writer of this store (and its clones), started on the current runtime
    /// by the first append; `None` outside a runtime.
    fn writer(&self) -> Option<tokio::sync::mpsc::Sender<Pending>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(
            self.writer
                .get_or_init(|| {
                    let (tx, rx) = tokio::sync::mpsc::channel(MAX_GROUP * 4);
                    runtime.spawn(write_groups(self.pool.clone(), rx));
                    tx
                })
                .clone(),
        )
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Hands `appends` to the group-commit writer and waits for its commit.
    async fn append_grouped(
        &self,
        appends: Vec<StreamAppend>,
    ) -> Result<AppendOutcome, StoreError> {
        check_distinct(&appends)?;
        let Some(writer) = self.writer() else {
            return commit_alone(&self.pool, appends).await;
        };
        let (done, outcome) = tokio::sync::oneshot::channel();
        if let Err(refused) = writer.send(Pending { appends, done }).await {
            // The writer's runtime is gone (a store shared across runtimes): commit here.
            return commit_alone(&self.pool, refused.0.appends).await;
        }
        match outcome.await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(
                "the append writer stopped before answering".into(),
            )),
        }
    }
}

/// An `events` row as stored (positions, envelope fields), shared by every reader of the table.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub(crate) global_position: i64,
    pub(crate) event_id: Uuid,
    pub(crate) stream_id: String,
    pub(crate) stream_version: i64,
    pub(crate) event_type: String,
    pub(crate) schema_version: i32,
    pub(crate) payload: serde_json::Value,
    pub(crate) metadata: serde_json::Value,
    pub(crate) recorded_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for RecordedEvent {
    type Error = StoreError;
    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let metadata: Metadata =
            serde_json::from_value(row.metadata).map_err(|e| StoreError::Decode {
                event_id: row.event_id,
                reason: e.to_string(),
            })?;
        Ok(RecordedEvent {
            event_id: row.event_id,
            stream_id: row.stream_id,
            stream_version: row.stream_version,
            global_position: row.global_position,
            event_type: row.event_type,
            schema_version: row.schema_version,
            payload: row.payload,
            metadata,
            recorded_at: row.recorded_at,
        })
    }
}

pub(crate) const SELECT_EVENTS: &str =
    "select global_position, event_id, stream_id, stream_version, \
     event_type, schema_version, payload, metadata, recorded_at from events";

#[async_trait]
impl EventStore for PgEventStore {
    fn appended(&self) -> Option<crate::AppendSignal> {
        // The listener is a task: without a runtime there is nothing to run it, and readers
        // poll.
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(
            self.appended
                .get_or_init(|| notifications_on(&runtime, &self.pool, APPENDED_CHANNEL))
                .clone(),
        )
    }

    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "append",
            streams = appends.len(),
            events = appends.iter().map(|a| a.events.len()).sum::<usize>()
        );
        self.append_grouped(appends).instrument(span).await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "{SELECT_EVENTS} where stream_id = $1 and stream_version >= $2 order by stream_version"
        ))
        .bind(stream_id)
        .bind(from_version)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| RecordedEvent::try_from(r).map(crate::upcast::upcast))
            .collect()
    }

    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "{SELECT_EVENTS} where global_position > $1 order by global_position limit $2"
        ))
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| RecordedEvent::try_from(r).map(crate::upcast::upcast))
            .collect()
    }

    async fn stream_versions_between(
        &self,
        after: i64,
        upto: i64,
        categories: &[&str],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let categories: Vec<&str> = categories.to_vec();
        Ok(sqlx::query_as(
            "select stream_id, max(stream_version) from events
             where global_position > $1 and global_position <= $2
               and split_part(stream_id, '-', 1) = any($3)
             group by stream_id",
        )
        .bind(after)
        .bind(upto)
        .bind(&categories)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Searches the whole log through the partial index on `payload->>'order_id'` when the
    /// field is `order_id`, and otherwise by payload; `streams` is not needed.
    async fn events_naming(
        &self,
        field: &str,
        value: &str,
        _streams: &[String],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // The literal key lets the partial index events_order_id serve the order case.
        let rows: Vec<EventRow> = if field == "order_id" {
            sqlx::query_as(&format!(
                "{SELECT_EVENTS} where payload ? 'order_id' and payload->>'order_id' = $1
                 order by global_position"
            ))
            .bind(value)
            .fetch_all(&self.pool)
            .await?
        } else {
            sqlx::query_as(&format!(
                "{SELECT_EVENTS} where payload->>$1 = $2 order by global_position"
            ))
            .bind(field)
            .bind(value)
            .fetch_all(&self.pool)
            .await?
        };
        rows.into_iter()
            .map(|r| RecordedEvent::try_from(r).map(crate::upcast::upcast))
            .collect()
    }

    async fn verify(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<crate::verify::Report, StoreError> {
        Ok(crate::verify::verify(&self.pool, progress).await?)
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let row: Option<(i32, i64, i64, serde_json::Value)> = sqlx::query_as(
            "select format, version, position, state from snapshots where stream_id = $1",
        )
        .bind(stream_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(format, version, position, state)| {
            Some(Snapshot {
                stream_id: stream_id.to_owned(),
                format: u16::try_from(format).ok()?,
                version,
                position,
                state,
            })
        }))
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        sqlx::query(
            "insert into snapshots (stream_id, format, version, position, state) \
             values ($1, $2, $3, $4, $5) \
             on conflict (stream_id) do update set format = excluded.format, \
               version = excluded.version, position = excluded.position, \
               state = excluded.state, taken_at = now() \
             where snapshots.format <> excluded.format or snapshots.version < excluded.version",
        )
        .bind(&snapshot.stream_id)
        .bind(i32::from(snapshot.format))
        .bind(snapshot.version)
        .bind(snapshot.position)
        .bind(&snapshot.state)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let (head,): (i64,) =
            sqlx::query_as("select coalesce(max(global_position), 0) from events")
                .fetch_one(&self.pool)
                .await?;
        Ok(head)
    }
}

/// A signal woken by every notification on `channel` of `pool`'s database (and after every
/// reconnection, since what was notified meanwhile is lost), kept by a task of the current
/// runtime on its own connection until nobody holds the signal. Panics outside a runtime.
pub fn notifications(pool: &PgPool, channel: &'static str) -> crate::AppendSignal {
    notifications_on(&tokio::runtime::Handle::current(), pool, channel)
}

fn notifications_on(
    runtime: &tokio::runtime::Handle,
    pool: &PgPool,
    channel: &'static str,
) -> crate::AppendSignal {
    let (tx, rx) = tokio::sync::watch::channel(0);
    runtime.spawn(listen(pool.clone(), channel, tx));
    rx
}

/// Keeps a connection listening on `channel` and wakes `signal` for every notification, and
/// after every (re)connection, since what was notified while it was not listening is lost.
/// Ends when nobody can receive the signal any more.
async fn listen(pool: PgPool, channel: &'static str, signal: tokio::sync::watch::Sender<u64>) {
    let wake = || signal.send_modify(|n| *n = n.wrapping_add(1));
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = signal.closed() => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::debug!(error = %e, channel, "cannot listen for notifications; readers poll meanwhile");
                    tokio::select! {
                        () = signal.closed() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                    continue;
                }
            },
        };
        backoff = std::time::Duration::from_millis(100);
        wake();
        loop {
            tokio::select! {
                () = signal.closed() => return,
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => wake(),
                    // The connection was lost: the next call reconnects, and what was
                    // committed meanwhile was not notified.
                    Ok(None) => wake(),
                    Err(e) => {
                        tracing::debug!(error = %e, channel, "listening for notifications failed; reconnecting");
                        break;
                    }
                },
            }
        }
    }
}

/// Most appends committed in one transaction.
const MAX_GROUP: usize = 256;

/// An append waiting for the writer, and where its outcome goes.
#[derive(Debug)]
struct Pending {
    appends: Vec<StreamAppend>,
    done: tokio::sync::oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

/// Group commit: the appends that arrived while the previous group was committing go
/// together in one transaction, one WAL flush, and the same handful of statements as a single
/// append (see [`commit_group`]). Each append keeps its own version checks and its own
/// outcome. Ends when every sender is gone.
async fn write_groups(pool: PgPool, mut pending: tokio::sync::mpsc::Receiver<Pending>) {
    while let Some(first) = pending.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match pending.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let appends: Vec<&[StreamAppend]> = group.iter().map(|p| p.appends.as_slice()).collect();
        let started = std::time::Instant::now();
        let committed = commit_group(&pool, &appends).await;
        metrics::histogram!("commerce_append_group_size").record(group.len() as f64);
        metrics::histogram!("commerce_append_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        if let Ok(outcomes) = &committed {
            let events: usize = outcomes
                .iter()
                .zip(&appends)
                .filter(|(outcome, _)| outcome.is_ok())
                .map(|(_, a)| a.iter().map(|s| s.events.len()).sum::<usize>())
                .sum();
            metrics::counter!("commerce_append_events_total").increment(events as u64);
            let conflicts = outcomes.iter().filter(|o| o.is_err()).count();
            metrics::counter!("commerce_append_conflicts_total").increment(conflicts as u64);
        }
        match committed {
            Ok(outcomes) => {
                for (p, outcome) in group.into_iter().zip(outcomes) {
                    let _ = p.done.send(outcome);
                }
            }
            Err(e) if group.len() == 1 => {
                let _ = group.pop().map(|p| p.done.send(Err(e)));
            }
            // The transaction failed as a whole (one append's event id already stored, say):
            // each append again on its own, so only the culprit fails.
            Err(_) => {
                for p in group {
                    let outcome = commit_alone(&pool, p.appends).await;
                    let _ = p.done.send(outcome);
                }
            }
        }
    }
}

/// Commits one append in a transaction of its own.
async fn commit_alone(
    pool: &PgPool,
    appends: Vec<StreamAppend>,
) -> Result<AppendOutcome, StoreError> {
    commit_group(pool, &[appends.as_slice()])
        .await?
        .pop()
        .unwrap_or_else(|| Err(StoreError::Unavailable("no outcome".into())))
}

/// Commits `group` in one transaction and answers each append: its outcome, or the conflict
/// that refused it alone (checked against the versions the appends before it in the group
/// leave, as if they had been committed one by one in this order). An `Err` means the
/// transaction failed and nothing was written.
///
/// Round trips: begin; lock and read every stream of the group (one upsert, in stream-id
/// order, so concurrent groups never deadlock); take the append lock and read the last global
/// hash (one function call, see the module docs); insert every event and move every stream
/// (one statement); commit.
async fn commit_group(
    pool: &PgPool,
    group: &[&[StreamAppend]],
) -> Result<Vec<Result<AppendOutcome, StoreError>>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut ids: Vec<&str> = group
        .iter()
        .flat_map(|appends| appends.iter().map(|a| a.stream_id.as_str()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(String, i64, Option<Vec<u8>>)> = sqlx::query_as(
        "insert into streams (stream_id, version)
         select id, 0 from unnest($1::text[]) as id order by id
         on conflict (stream_id) do update set version = streams.version
         returning stream_id, version, last_hash",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    // Each stream's version and hash as the appends accepted so far leave them.
    let mut streams: std::collections::HashMap<String, (i64, chain::Hash)> = rows
        .into_iter()
        .map(|(id, version, hash)| (id, (version, chain::from_column(hash.as_deref()))))
        .collect();

    // Check each append in order; an accepted one moves its streams' versions for the next.
    let mut outcomes: Vec<Result<AppendOutcome, StoreError>> = Vec::with_capacity(group.len());
    // Per accepted append: its index and, per stream, the version its events start after.
    let mut accepted: Vec<(usize, Vec<i64>)> = Vec::new();
    for (n, appends) in group.iter().enumerate() {
        let refused = appends.iter().find_map(|a| {
            let actual = streams.get(&a.stream_id).map_or(0, |(v, _)| *v);
            (!version_matches(a.expected, actual)).then(|| StoreError::Conflict {
                stream_id: a.stream_id.clone(),
                expected: a.expected,
                actual,
            })
        });
        if let Some(conflict) = refused {
            outcomes.push(Err(conflict));
            continue;
        }
        let mut starts = Vec::with_capacity(appends.len());
        let mut versions = Vec::with_capacity(appends.len());
        for a in appends.iter() {
            let entry = streams
                .entry(a.stream_id.clone())
                .or_insert((0, chain::GENESIS));
            starts.push(entry.0);
            entry.0 += a.events.len() as i64;
            versions.push((a.stream_id.clone(), entry.0));
        }
        accepted.push((n, starts));
        outcomes.push(Ok(AppendOutcome {
            versions,
            last_position: None,
        }));
    }

    let total: usize = accepted
        .iter()
        .map(|(n, _)| group[*n].iter().map(|a| a.events.len()).sum::<usize>())
        .sum();
    if total > 0 {
        // Serialize position assignment until commit (see the module docs), in the same round
        // trip as reading the global chain's newest link, its predecessor under this lock.
        let (previous,): (Option<Vec<u8>>,) = sqlx::query_as("select commerce_append_head($1)")
            .bind(APPEND_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        let mut global = chain::from_column(previous.as_deref());
        let recorded_at = chain::to_micros(Utc::now());
        // Each stream's hash chain continues from what is stored, through the accepted appends.
        let mut stream_hash: std::collections::HashMap<&str, chain::Hash> = streams
            .iter()
            .map(|(id, (_, hash))| (id.as_str(), *hash))
            .collect();

        let mut event_ids = Vec::with_capacity(total);
        let mut stream_ids = Vec::with_capacity(total);
        let mut versions = Vec::with_capacity(total);
        let mut types = Vec::with_capacity(total);
        let mut schemas = Vec::with_capacity(total);
        let mut payloads = Vec::with_capacity(total);
        let mut metadata = Vec::with_capacity(total);
        let mut hashes = Vec::with_capacity(total);
        let mut global_hashes = Vec::with_capacity(total);
        // Per accepted append, how many events it has (to hand positions back).
        let mut counts = Vec::with_capacity(accepted.len());
        for (n, starts) in &accepted {
            let mut count = 0;
            for (a, start) in group[*n].iter().zip(starts) {
                let previous = stream_hash
                    .get(a.stream_id.as_str())
                    .copied()
                    .unwrap_or(chain::GENESIS);
                let mut link = previous;
                for (k, event) in a.events.iter().enumerate() {
                    let version = start + k as i64 + 1;
                    let hash = chain::link(
                        &link,
                        &chain::canonical(&chain::Sealed {
                            event_id: event.event_id,
                            stream_id: &a.stream_id,
                            stream_version: version,
                            event_type: &event.event_type,
                            schema_version: event.schema_version,
                            payload: &event.payload,
                            metadata: &event.metadata,
                            recorded_at,
                        }),
                    );
                    link = hash;
                    global = chain::link(&global, &hash);
                    event_ids.push(event.event_id);
                    stream_ids.push(a.stream_id.as_str());
                    versions.push(version);
                    types.push(event.event_type.as_str());
                    schemas.push(event.schema_version);
                    payloads.push(&event.payload);
                    metadata.push(serde_json::to_value(&event.metadata).unwrap_or_default());
                    hashes.push(hash.to_vec());
                    global_hashes.push(global.to_vec());
                    count += 1;
                }
                stream_hash.insert(a.stream_id.as_str(), link);
            }
            counts.push(count);
        }
        // Every stream that moved, to its last version and hash.
        let mut moved_ids = Vec::new();
        let mut moved_versions = Vec::new();
        let mut moved_hashes = Vec::new();
        for (n, _) in &accepted {
            if let Some(Ok(outcome)) = outcomes.get(*n) {
                for ((id, version), a) in outcome.versions.iter().zip(group[*n].iter()) {
                    if a.events.is_empty() {
                        continue;
                    }
                    moved_ids.push(id.as_str());
                    moved_versions.push(*version);
                    moved_hashes.push(
                        stream_hash
                            .get(id.as_str())
                            .copied()
                            .unwrap_or(chain::GENESIS)
                            .to_vec(),
                    );
                }
            }
        }
        // A stream appended to by several appends keeps the last (highest) version.
        let mut last: std::collections::HashMap<&str, (i64, Vec<u8>)> = Default::default();
        for ((id, version), hash) in moved_ids.iter().zip(&moved_versions).zip(moved_hashes) {
            let keep = last.get(id).is_none_or(|(v, _)| v < version);
            if keep {
                last.insert(id, (*version, hash));
            }
        }
        let mut last_ids = Vec::with_capacity(last.len());
        let mut last_versions = Vec::with_capacity(last.len());
        let mut last_hashes = Vec::with_capacity(last.len());
        for (id, (version, hash)) in last {
            last_ids.push(id);
            last_versions.push(version);
            last_hashes.push(hash);
        }
        // Insert every event and move every stream in one statement. `= any` gives the
        // planner an index lookup for the streams; a join with the unnest alone is planned as
        // a scan of every stream, which made appends slower as the shop grew.
        let positions: Vec<(i64,)> = sqlx::query_as(
            "with moved as (
                 update streams s set version = u.version, last_hash = u.hash
                 from unnest($11::text[], $12::bigint[], $13::bytea[]) as u(id, version, hash)
                 where s.stream_id = u.id and s.stream_id = any($11)
             )
             insert into events
                (event_id, stream_id, stream_version, event_type, schema_version, payload,
                 metadata, hash, global_hash, recorded_at)
             select e.id, e.stream, e.version, e.type, e.schema, e.payload, e.metadata,
                    e.hash, e.global_hash, $10
             from unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::int[],
                         $6::jsonb[], $7::jsonb[], $8::bytea[], $9::bytea[])
                  with ordinality
                  as e(id, stream, version, type, schema, payload, metadata, hash, global_hash, n)
             order by e.n
             returning global_position",
        )
        .bind(&event_ids)
        .bind(&stream_ids)
        .bind(&versions)
        .bind(&types)
        .bind(&schemas)
        .bind(&payloads)
        .bind(&metadata)
        .bind(&hashes)
        .bind(&global_hashes)
        .bind(recorded_at)
        .bind(&last_ids)
        .bind(&last_versions)
        .bind(&last_hashes)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.constraint() == Some("events_event_id_key") => {
                StoreError::InvalidAppend("an event id is already stored".into())
            }
            _ => StoreError::from(e),
        })?;
        // Positions come back in insert order, which is the events' order above.
        let mut positions = positions.into_iter().map(|(p,)| p);
        for ((n, _), count) in accepted.iter().zip(counts) {
            let last = positions.by_ref().take(count).max();
            if let Some(Ok(outcome)) = outcomes.get_mut(*n) {
                outcome.last_position = last;
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}
