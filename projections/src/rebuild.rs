//! Zero-downtime rebuild of projections (blue/green).
//!
//! 1. Create a schema `rebuild_<id>` with empty copies of the projections' tables and of the
//!    de-duplication table.
//! 2. Replay the event store into it through connections whose `search_path` puts that schema
//!    first, while the live tables keep serving and live workers keep projecting.
//! 3. Catch up to the head, then switch in one transaction: take [`SWITCH_LOCK`] exclusively
//!    (every live batch holds it shared, so none is half-way and later ones see the new
//!    tables), apply the last events, replace the projections' de-duplication rows and
//!    read-your-writes watermarks, and move the tables: live ones out, new ones in.
//! 4. Drop the old generation.
//!
//! Live workers continue from wherever they were: whatever they deliver again is already in
//! the new generation's de-duplication state and is skipped, whatever is new gets applied. A
//! projection added later backfills the same way (its tables start empty).
//!
//! Progress is also exported as metrics: `commerce_rebuild_position` (the last event replayed),
//! `commerce_rebuild_head` (the log's head when that batch was read) and
//! `commerce_rebuild_events_total`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::EventStore;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};

use crate::projection::{Projection, ProjectionError};
use crate::projector::Projector;

/// Advisory lock key separating live projection batches (shared) from a generation switch
/// (exclusive). "rebuild" in ASCII.
pub const SWITCH_LOCK: i64 = 0x0072_6562_7569_6c64;

/// Where a rebuild stands, for progress displays.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Events replayed so far.
    pub events: u64,
    /// Position reached.
    pub position: i64,
    /// The log's head when last looked at.
    pub head: i64,
    /// Time since the start.
    pub elapsed: Duration,
}

/// What a rebuild did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Projections rebuilt.
    pub projections: Vec<&'static str>,
    /// Events replayed.
    pub events: u64,
    /// Time taken, switch included.
    pub elapsed: Duration,
}

/// Triggers that belong to a projection's table (`create table ... (like ... including all)`
/// copies no trigger): `(table, statement)`, where `{table}` stands for the new generation's
/// table.
pub const TRIGGERS: &[(&str, &str)] = &[(
    "catalog_products",
    "create trigger catalog_products_stamp before insert or update on {table}
       for each row execute function public.catalog_products_stamp()",
)];

/// Why a rebuild failed. The live generation is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Reading the log failed.
    #[error(transparent)]
    Store(#[from] events::StoreError),
    /// Projecting failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Rebuilds `projections` from the whole log into a new generation and switches to it.
pub async fn rebuild(
    pool: &PgPool,
    store: Arc<dyn EventStore>,
    projections: Vec<Arc<dyn Projection>>,
    batch_size: usize,
    mut progress: impl FnMut(Progress),
) -> Result<Outcome, RebuildError> {
    let started = Instant::now();
    let generation = format!("rebuild_{}", uuid::Uuid::new_v4().simple());
    let tables: Vec<&'static str> = projections
        .iter()
        .flat_map(|p| p.tables().iter().copied())
        .collect();
    let names: Vec<&'static str> = projections.iter().map(|p| p.name()).collect();
    tracing::info!(?names, %generation, "rebuild started");

    // Identifiers below are constants of the code or the generated schema name, never input.
    pool.execute(format!("create schema {generation}").as_str())
        .await?;
    for table in tables.iter().chain(["projection_streams"].iter()) {
        pool.execute(
            format!("create table {generation}.{table} (like public.{table} including all)")
                .as_str(),
        )
        .await?;
        for (_, statement) in TRIGGERS.iter().filter(|(t, _)| t == table) {
            let qualified = format!("{generation}.{table}");
            pool.execute(statement.replace("{table}", &qualified).as_str())
                .await?;
        }
    }
    let result = replay_and_switch(
        pool,
        store,
        &projections,
        &generation,
        &tables,
        batch_size,
        &mut progress,
        started,
    )
    .await;
    // The retired generation (or, after a failure, the unfinished one) goes away.
    for schema in [format!("{generation}_retired"), generation.clone()] {
        if let Err(e) = pool
            .execute(format!("drop schema if exists {schema} cascade").as_str())
            .await
        {
            tracing::warn!(error = %e, %schema, "could not drop a rebuild schema");
        }
    }
    let events = result?;
    tracing::info!(?names, events, elapsed = ?started.elapsed(), "rebuild switched");
    Ok(Outcome {
        projections: names,
        events,
        elapsed: started.elapsed(),
    })
}

#[allow(clippy::too_many_arguments)]
async fn replay_and_switch(
    pool: &PgPool,
    store: Arc<dyn EventStore>,
    projections: &[Arc<dyn Projection>],
    generation: &str,
    tables: &[&'static str],
    batch_size: usize,
    progress: &mut impl FnMut(Progress),
    started: Instant,
) -> Result<u64, RebuildError> {
    let search_path = format!("set search_path to {generation}, public");
    let options: sqlx::postgres::PgConnectOptions = (*pool.connect_options()).clone();
    let rebuild_pool = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(move |conn, _| {
            let sql = search_path.clone();
            Box::pin(async move {
                conn.execute(sql.as_str()).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    let projector = Projector::new(rebuild_pool.clone(), projections.to_vec());

    // Replay while the live generation serves, until a read finds nothing new. A reader
    // task keeps the next batches coming while one is applied.
    let (batches, mut incoming) = tokio::sync::mpsc::channel(2);
    let reader = tokio::spawn(read_ahead(store.clone(), batch_size, batches));
    let mut position = 0;
    let mut events = 0_u64;
    while let Some(batch) = incoming.recv().await {
        let (batch, head) = batch?;
        let Some(last) = batch.last() else { break };
        position = last.global_position;
        let mut tx = rebuild_pool.begin().await?;
        projector.apply_in(&mut tx, &batch).await?;
        tx.commit().await?;
        events += batch.len() as u64;
        metrics::gauge!("commerce_rebuild_position").set(position as f64);
        metrics::gauge!("commerce_rebuild_head").set(head as f64);
        metrics::counter!("commerce_rebuild_events_total").increment(batch.len() as u64);
        progress(Progress {
            events,
            position,
            head,
            elapsed: started.elapsed(),
        });
    }
    drop(incoming);
    reader.abort();
    rebuild_pool.close().await;

    // Switch.
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(SWITCH_LOCK)
        .execute(&mut *tx)
        .await?;
    let live: Vec<String> = tables.iter().map(|t| format!("public.{t}")).collect();
    tx.execute(format!("lock table {} in access exclusive mode", live.join(", ")).as_str())
        .await?;
    tx.execute(format!("set local search_path to {generation}, public").as_str())
        .await?;
    loop {
        let batch = store.read_all(position, batch_size).await?;
        let Some(last) = batch.last() else { break };
        position = last.global_position;
        events += batch.len() as u64;
        projector.apply_in(&mut tx, &batch).await?;
    }
    let names: Vec<&str> = projections.iter().map(|p| p.name()).collect();
    sqlx::query("delete from public.projection_streams where projection = any($1)")
        .bind(&names)
        .execute(&mut *tx)
        .await?;
    tx.execute(
        format!(
            "insert into public.projection_streams select * from {generation}.projection_streams"
        )
        .as_str(),
    )
    .await?;
    sqlx::query("delete from public.projection_watermarks where projection = any($1)")
        .bind(&names)
        .execute(&mut *tx)
        .await?;
    tx.execute(format!("create schema {generation}_retired").as_str())
        .await?;
    for table in tables {
        tx.execute(format!("alter table public.{table} set schema {generation}_retired").as_str())
            .await?;
        tx.execute(format!("alter table {generation}.{table} set schema public").as_str())
            .await?;
    }
    tx.execute("set local search_path to default").await?;
    tx.commit().await?;
    progress(Progress {
        events,
        position,
        head: position,
        elapsed: started.elapsed(),
    });
    Ok(events)
}

/// Reads the log from the start in batches of `batch_size`, each with the head as it was
/// then, until a read finds nothing new (that empty batch is sent too) or the receiver goes.
async fn read_ahead(
    store: Arc<dyn EventStore>,
    batch_size: usize,
    batches: tokio::sync::mpsc::Sender<Result<(Vec<events::RecordedEvent>, i64), RebuildError>>,
) {
    let mut position = 0;
    loop {
        let read = async {
            let batch = store.read_all(position, batch_size).await?;
            let head = store.head_position().await?;
            Ok::<_, RebuildError>((batch, head))
        }
        .await;
        let done = match &read {
            Ok((batch, _)) => match batch.last() {
                Some(last) => {
                    position = last.global_position;
                    false
                }
                None => true,
            },
            Err(_) => true,
        };
        if batches.send(read).await.is_err() || done {
            return;
        }
    }
}
