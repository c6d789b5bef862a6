//! Applying events to projections exactly once, and waiting for a position.

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{EventStore, RecordedEvent, StoreError};
use sqlx::PgPool;

use crate::projection::{Projection, ProjectionError};

/// The read models of the engine.
pub fn all_projections() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(crate::accounts::AccountProjection),
        Arc::new(crate::catalog::CatalogProjection),
        Arc::new(crate::carts::CartProjection),
        Arc::new(crate::orders::OrderProjection),
        Arc::new(crate::customer_orders::CustomerOrdersProjection),
    ]
}

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
        tx.commit().await?;
        Ok(applied)
    }

    /// Applies `events` inside the caller's transaction, with de-duplication.
    pub async fn apply_in(
        &self,
        tx: &mut sqlx::PgConnection,
        events: &[RecordedEvent],
    ) -> Result<usize, ProjectionError> {
        let mut applied = 0;
        for event in events {
            let category = event.category();
            for projection in &self.projections {
                if !projection.categories().contains(&category) {
                    continue;
                }
                // Moves the version forward only; no row back means "seen already".
                let fresh: Option<(i64,)> = sqlx::query_as(
                    "insert into projection_streams (projection, stream_id, version)
                     values ($1, $2, $3)
                     on conflict (projection, stream_id) do update set version = excluded.version
                     where projection_streams.version < excluded.version
                     returning version",
                )
                .bind(projection.name())
                .bind(&event.stream_id)
                .bind(event.stream_version)
                .fetch_optional(&mut *tx)
                .await?;
                if fresh.is_none() {
                    tracing::debug!(projection = projection.name(), stream_id = %event.stream_id,
                        version = event.stream_version, "duplicate skipped");
                    continue;
                }
                projection.apply(tx, event).await?;
                applied += 1;
            }
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

/// Whether `projection` has applied every event of its categories at or below `position`.
///
/// Works whatever the feed (store log or Kafka partitions, in any interleaving): it compares
/// the log up to `position` with the projection's per-stream versions, starting from a
/// watermark below which everything is known to be applied, and moves the watermark up.
pub async fn has_reached(
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
) -> Result<bool, sqlx::Error> {
    let watermark = watermark(pool, projection).await?;
    if watermark >= position {
        return Ok(true);
    }
    let categories: Vec<&str> = projection.categories().to_vec();
    let (pending,): (bool,) = sqlx::query_as(
        "select exists (
             select 1 from events e
             where e.global_position > $2 and e.global_position <= $3
               and split_part(e.stream_id, '-', 1) = any($4)
               and not exists (
                   select 1 from projection_streams ps
                   where ps.projection = $1 and ps.stream_id = e.stream_id
                     and ps.version >= e.stream_version))",
    )
    .bind(projection.name())
    .bind(watermark)
    .bind(position)
    .bind(&categories)
    .fetch_one(pool)
    .await?;
    if pending {
        return Ok(false);
    }
    // Only move up to what exists: a position beyond the head says nothing about the future.
    let (head,): (i64,) =
        sqlx::query_as("select coalesce(max(global_position), 0)::int8 from events")
            .fetch_one(pool)
            .await?;
    raise_watermark(pool, projection, position.min(head)).await?;
    Ok(true)
}

/// [`has_reached`] for a log kept outside the read-model database (EventStoreDB): the log
/// between the watermark and `position` is read through the store port and its streams'
/// versions compared with the projection's, instead of joining the two in SQL.
pub async fn has_reached_in(
    store: &dyn EventStore,
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
) -> Result<bool, StoreError> {
    if store.shares_database() {
        return Ok(has_reached(pool, projection, position).await?);
    }
    let watermark = watermark(pool, projection).await?;
    if watermark >= position {
        return Ok(true);
    }
    let categories = projection.categories();
    let (mut streams, mut versions) = (Vec::new(), Vec::new());
    let mut seen = watermark;
    'read: loop {
        let page = store.read_all(seen, 1_000).await?;
        if page.is_empty() {
            break;
        }
        for e in page {
            if e.global_position > position {
                break 'read;
            }
            seen = e.global_position;
            if categories.contains(&e.category()) {
                streams.push(e.stream_id);
                versions.push(e.stream_version);
            }
        }
    }
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
    // `seen` is the last position that exists at or below `position`.
    raise_watermark(pool, projection, seen).await?;
    Ok(true)
}

/// The position below which `projection` is known to have applied everything.
async fn watermark(pool: &PgPool, projection: &dyn Projection) -> Result<i64, sqlx::Error> {
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

/// Polls `check` with a growing delay (2 ms to 50 ms) until it says yes or `timeout` elapses.
async fn poll_until<E, F, Fut>(timeout: Duration, mut check: F) -> Result<bool, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, E>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(2);
    loop {
        if check().await? {
            return Ok(true);
        }
        if Instant::now() + delay > deadline {
            return Ok(false);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// Waits, polling, until `projection` has reached `position` or `timeout` elapses.
pub async fn wait_for(
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    poll_until(timeout, || has_reached(pool, projection, position)).await
}

/// [`wait_for`] over any store: the SQL check when the log shares the read models'
/// database, [`has_reached_in`] otherwise.
pub async fn wait_for_in(
    store: &dyn EventStore,
    pool: &PgPool,
    projection: &dyn Projection,
    position: i64,
    timeout: Duration,
) -> Result<bool, StoreError> {
    poll_until(timeout, || {
        has_reached_in(store, pool, projection, position)
    })
    .await
}

/// Read-model tables, i.e. everything a full re-projection rebuilds.
pub const READ_MODEL_TABLES: &[&str] = &[
    "accounts",
    "catalog_products",
    "catalog_stock",
    "carts",
    "cart_lines",
    "orders",
    "order_lines",
    "customer_orders",
];

/// Every read-model row as canonical JSON (rows sorted), to compare two projections of the
/// same log.
pub async fn snapshot(pool: &PgPool) -> Result<serde_json::Value, sqlx::Error> {
    let mut out = serde_json::Map::new();
    for table in READ_MODEL_TABLES {
        // Table names are constants above, never input.
        let (rows,): (serde_json::Value,) = sqlx::query_as(&format!(
            "select coalesce(json_agg(t order by t::text), '[]'::json) from {table} t"
        ))
        .fetch_one(pool)
        .await?;
        out.insert((*table).to_owned(), rows);
    }
    Ok(serde_json::Value::Object(out))
}

/// Empties every read model and all projection bookkeeping, so the next feed re-projects the
/// whole log. The API serves empty read models meanwhile (zero-downtime rebuilds build a new
/// generation instead).
pub async fn reset(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tables: Vec<&str> = READ_MODEL_TABLES.to_vec();
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
