//! Applying events to projections exactly once, and waiting for a position.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{EventStore, RecordedEvent};
use sqlx::PgPool;

use crate::projection::{Projection, ProjectionError};

/// Applies events to a set of projections with de-duplication.
#[derive(Clone)]
pub struct Projector {
    pool: PgPool,
    projections: Vec<Arc<dyn Projection>>,
}

impl Projector {
    /// A projector over `projections`, writing to `pool`.
    pub fn new(pool: PgPool, projections: Vec<Arc<dyn Projection>>) -> Self {
        Projector { pool, projections }
    }

    /// The read-model database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The projections fed by this projector.
    pub fn projections(&self) -> &[Arc<dyn Projection>] {
        &self.projections
    }

    /// Applies `events` in one transaction and, when `checkpoint` is given, records the last
    /// event's global position under that name in the same transaction. Returns how many
    /// (projection, event) pairs changed a read model; redelivered events count zero.
    pub async fn apply_batch(
        &self,
        events: &[RecordedEvent],
        checkpoint: Option<&str>,
    ) -> Result<usize, ProjectionError> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        // A rebuild switching generations holds this exclusively: no batch is half-way
        // through the tables being swapped, and every batch after the switch sees the new ones.
        sqlx::query("select pg_advisory_xact_lock_shared($1)")
            .bind(crate::rebuild::SWITCH_LOCK)
            .execute(&mut *tx)
            .await?;
        let applied = self.apply_in(&mut tx, events).await?;
        if let Some(name) = checkpoint {
            let last = events.last().map_or(0, |e| e.global_position);
            sqlx::query(
                "insert into projection_checkpoints (name, position) values ($1, $2)
                 on conflict (name) do update set position = excluded.position, updated_at = now()",
            )
            .bind(name)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        }
        // Read-your-writes waits wake on the commit (PostgreSQL delivers this only then).
        sqlx::query("select pg_notify($1, '')")
            .bind(PROJECTED_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.record_batch(events);
        Ok(applied)
    }

    /// Metrics of a committed batch: `commerce_projection_events_total{projection}` (events
    /// delivered, redeliveries included) and `commerce_projection_lag_seconds{projection}`
    /// (how long ago the batch's newest event was appended).
    fn record_batch(&self, events: &[RecordedEvent]) {
        let Some(newest) = events.iter().map(|e| e.recorded_at).max() else {
            return;
        };
        let lag = (chrono::Utc::now() - newest).num_milliseconds().max(0) as f64 / 1000.0;
        for projection in &self.projections {
            let delivered = events
                .iter()
                .filter(|e| projection.categories().contains(&e.category()))
                .count();
            metrics::counter!("commerce_projection_events_total", "projection" => projection.name())
                .increment(delivered as u64);
            metrics::gauge!("commerce_projection_lag_seconds", "projection" => projection.name())
                .set(lag);
        }
    }

    /// Records that every projection of this projector has caught up with its feed:
    /// `commerce_projection_lag_seconds` and `commerce_projection_lag_events` are 0.
    pub fn record_caught_up(&self) {
        self.record_lag_events(0);
    }

    /// Sets `commerce_projection_lag_events{projection}` for every projection of this
    /// projector (events its feed holds that it has not applied yet), and their lag in seconds
    /// to 0 when there are none.
    pub fn record_lag_events(&self, behind: i64) {
        for projection in &self.projections {
            metrics::gauge!("commerce_projection_lag_events", "projection" => projection.name())
                .set(behind as f64);
            if behind == 0 {
                metrics::gauge!("commerce_projection_lag_seconds", "projection" => projection.name())
                    .set(0.0);
            }
        }
    }

    /// Applies `events` inside the caller's transaction, with de-duplication, their sealed
    /// personal fields opened first (see [`events::personal`]).
    ///
    /// Set-based: one statement reads (and locks) the de-duplication rows of every stream in
    /// the batch, each projection gets its fresh events in one [`Projection::apply_batch`],
    /// and one statement moves the versions forward. A concurrent feed delivering the same
    /// events waits on those row locks and then finds them applied.
    pub async fn apply_in(
        &self,
        tx: &mut sqlx::PgConnection,
        events: &[RecordedEvent],
    ) -> Result<usize, ProjectionError> {
        // Sealed personal fields are opened (or read as erased) whatever fed the batch.
        let opened = events::personal::open_in(&mut *tx, events).await?;
        let events = opened.as_deref().unwrap_or(events);
        // Which projection reads which event.
        let mut wanted: Vec<Vec<&RecordedEvent>> = vec![Vec::new(); self.projections.len()];
        let mut keys: BTreeMap<(&'static str, &str), i64> = BTreeMap::new();
        for event in events {
            let category = event.category();
            for (i, projection) in self.projections.iter().enumerate() {
                if projection.categories().contains(&category) {
                    wanted[i].push(event);
                    keys.insert((projection.name(), event.stream_id.as_str()), 0);
                }
            }
        }
        let erased: Vec<uuid::Uuid> = events
            .iter()
            .filter_map(events::personal::erased_subject)
            .collect();
        if keys.is_empty() {
            forget(&self.projections, tx, &erased).await?;
            return Ok(0);
        }
        // Rows are created when missing and locked in key order (no deadlock between two
        // feeds); the answer is each stream's version applied so far (0 for a new one).
        let (names, streams): (Vec<&str>, Vec<&str>) = keys.keys().copied().unzip();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "insert into projection_streams (projection, stream_id, version)
             select projection, stream_id, 0
             from unnest($1::text[], $2::text[]) with ordinality as k(projection, stream_id, n)
             order by n
             on conflict (projection, stream_id)
             do update set version = projection_streams.version
             returning projection, stream_id, version",
        )
        .bind(&names)
        .bind(&streams)
        .fetch_all(&mut *tx)
        .await?;
        for (projection, stream, version) in &rows {
            let name = self
                .projections
                .iter()
                .map(|p| p.name())
                .find(|n| n == projection)
                .unwrap_or("");
            if let Some(known) = keys.get_mut(&(name, stream.as_str())) {
                *known = *version;
            }
        }
        let before = keys.clone();
        let mut applied = 0;
        for (i, projection) in self.projections.iter().enumerate() {
            let mut fresh = Vec::with_capacity(wanted[i].len());
            for event in &wanted[i] {
                let known = keys
                    .get_mut(&(projection.name(), event.stream_id.as_str()))
                    .expect("every wanted event has its key");
                if event.stream_version > *known {
                    *known = event.stream_version;
                    fresh.push(*event);
                } else {
                    tracing::debug!(projection = projection.name(), stream_id = %event.stream_id,
                        version = event.stream_version, "duplicate skipped");
                }
            }
            if !fresh.is_empty() {
                projection.apply_batch(tx, &fresh).await?;
                applied += fresh.len();
            }
        }
        // After the batch, so rows it wrote are found too.
        forget(&self.projections, tx, &erased).await?;
        let moved: Vec<((&str, &str), i64)> = keys
            .into_iter()
            .filter(|(key, version)| before.get(key) != Some(version))
            .collect();
        if !moved.is_empty() {
            let names: Vec<&str> = moved.iter().map(|((p, _), _)| *p).collect();
            let streams: Vec<&str> = moved.iter().map(|((_, s), _)| *s).collect();
            let versions: Vec<i64> = moved.iter().map(|(_, v)| *v).collect();
            // An upsert finds each row through the primary key whatever the table's size (an
            // update joined with the unnest was planned as a scan of the whole table).
            sqlx::query(
                "insert into projection_streams (projection, stream_id, version)
                 select * from unnest($1::text[], $2::text[], $3::int8[])
                 on conflict (projection, stream_id) do update set version = excluded.version",
            )
            .bind(&names)
            .bind(&streams)
            .bind(&versions)
            .execute(&mut *tx)
            .await?;
        }
        Ok(applied)
    }

    /// The recorded checkpoint of a log-following feed (0 when it never ran).
    pub async fn checkpoint(&self, name: &str) -> Result<i64, ProjectionError> {
        let row: Option<(i64,)> =
            sqlx::query_as("select position from projection_checkpoints where name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map_or(0, |(p,)| p))
    }
}

/// Every projection forgets its copies of the personal data of `people` (erased accounts).
async fn forget(
    projections: &[Arc<dyn Projection>],
    tx: &mut sqlx::PgConnection,
    people: &[uuid::Uuid],
) -> Result<(), ProjectionError> {
    if people.is_empty() {
        return Ok(());
    }
    for projection in projections {
        projection.forget(tx, people).await?;
    }
    Ok(())
}

/// Whether `projection` has applied every event of its categories at or below `position`.
///
/// Works whatever the feed (store log or Kafka partitions, in any interleaving) and wherever
/// the log lives: the store names the newest version of every stream written between the
/// projection's watermark (below which everything is known to be applied) and `position`, and
/// those are compared with the projection's per-stream versions. The watermark then moves up.
pub async fn has_reached(
    store: &dyn EventStore,
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
) -> Result<bool, ProjectionError> {
    let watermark = watermark(pool, projection).await?;
    if watermark >= position {
        return Ok(true);
    }
    // Only move up to what exists: a position beyond the head says nothing about the future.
    let upto = position.min(store.head_position().await?);
    let written = store
        .stream_versions_between(watermark, upto, projection.categories())
        .await?;
    let (streams, versions): (Vec<String>, Vec<i64>) = written.into_iter().unzip();
    let (pending,): (bool,) = sqlx::query_as(
        "select exists (
             select 1 from unnest($2::text[], $3::int8[]) as logged(stream_id, version)
             where not exists (
                 select 1 from projection_streams ps
                 where ps.projection = $1 and ps.stream_id = logged.stream_id
                   and ps.version >= logged.version))",
    )
    .bind(projection.name())
    .bind(&streams)
    .bind(&versions)
    .fetch_one(pool)
    .await?;
    if pending {
        return Ok(false);
    }
    raise_watermark(pool, projection, upto).await?;
    Ok(true)
}

/// The position at or below which `projection` is known to have applied everything (it
/// moves up as [`has_reached`] finds more applied).
pub async fn watermark(pool: &PgPool, projection: &dyn Projection) -> Result<i64, sqlx::Error> {
    Ok(sqlx::query_as::<_, (i64,)>(
        "select position from projection_watermarks where projection = $1",
    )
    .bind(projection.name())
    .fetch_optional(pool)
    .await?
    .map_or(0, |(p,)| p))
}

/// Moves the watermark up to `position` (never down).
async fn raise_watermark(
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into projection_watermarks (projection, position) values ($1, $2)
         on conflict (projection) do update
           set position = greatest(projection_watermarks.position, excluded.position)",
    )
    .bind(projection.name())
    .bind(position)
    .execute(pool)
    .await?;
    Ok(())
}

/// The channel every projection batch notifies on commit, for read-your-writes waits.
pub const PROJECTED_CHANNEL: &str = "commerce_projected";

/// Longest a wait woken by projection commits goes without looking (a lost notification, a
/// rebuild's new generation, which does not notify).
const SIGNALLED_FALLBACK: Duration = Duration::from_millis(250);

/// Checks `check` until it says yes or `timeout` elapses: again after each wake-up of
/// `signal` (projection commits), or polling with a growing delay (2 ms to 50 ms) without one.
async fn poll_until<E, F, Fut>(
    timeout: Duration,
    mut signal: Option<events::AppendSignal>,
    mut check: F,
) -> Result<bool, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
{
    let deadline = Instant::now() + timeout;
    // Only commits after this point wake the wait: the first check sees everything before.
    if let Some(signal) = &mut signal {
        signal.borrow_and_update();
    }
    let mut delay = Duration::from_millis(2);
    loop {
        if check().await? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let left = deadline - now;
        match &mut signal {
            Some(s) => {
                tokio::select! {
                    changed = s.changed() => {
                        if changed.is_err() {
                            signal = None;
                        }
                    }
                    () = tokio::time::sleep(left.min(SIGNALLED_FALLBACK)) => {}
                }
            }
            None => {
                tokio::time::sleep(delay.min(left)).await;
                delay = (delay * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// Waits, polling, until `projection` has reached `position` or `timeout` elapses.
pub async fn wait_for(
    store: &dyn EventStore,
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
    timeout: Duration,
) -> Result<bool, ProjectionError> {
    waken_for(store, pool, projection, position, timeout, None).await
}

/// [`wait_for`], looking again each time `projected` (notifications on
/// [`PROJECTED_CHANNEL`]) says a projection batch committed, rather than polling.
pub async fn waken_for(
    store: &dyn EventStore,
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
    timeout: Duration,
    projected: Option<events::AppendSignal>,
) -> Result<bool, ProjectionError> {
    poll_until(timeout, projected, || {
        has_reached(store, pool, projection, position)
    })
    .await
}

/// Every read-model row as canonical JSON (rows sorted), to compare two projections of the
/// same log.
pub async fn snapshot(pool: &PgPool) -> Result<serde_json::Value, sqlx::Error> {
    let mut out = serde_json::Map::new();
    for table in crate::registry::tables() {
        // Table names are constants above, never input. The search index's transaction
        // stamps (`search_xid`) say when a row was written, not what it holds: left out.
        let (rows,): (serde_json::Value,) = sqlx::query_as(&format!(
            "select coalesce(json_agg(r order by r::text), '[]'::json)
             from (select to_jsonb(t) - 'search_xid' as r from {table} t) x"
        ))
        .fetch_one(pool)
        .await?;
        out.insert(table.to_owned(), rows);
    }
    Ok(serde_json::Value::Object(out))
}

/// Empties every read model and all projection bookkeeping, so the next feed re-projects the
/// whole log. The API serves empty read models meanwhile (zero-downtime rebuilds build a new
/// generation instead).
pub async fn reset(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tables = crate::registry::tables();
    tables.extend([
        "projection_streams",
        "projection_watermarks",
        "projection_checkpoints",
    ]);
    sqlx::query(&format!("truncate {}", tables.join(", ")))
        .execute(pool)
        .await?;
    Ok(())
}
