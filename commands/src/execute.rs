//! The one execution path every command takes: load, check the pinned version, decide,
//! append atomically, answer; retried on a conflict, inside one `command` span.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;
use uuid::Uuid;

use domain::Aggregate;
use events::codec::{decode, encode};
use events::{EventStore, ExpectedVersion, Metadata, StreamAppend};

use crate::error::CommandError;
use crate::{CommandContext, CommandOutcome};

/// An aggregate as loaded from its stream.
#[derive(Clone)]
pub(crate) struct Loaded<A> {
    pub(crate) state: A,
    pub(crate) version: i64,
    pub(crate) last_position: Option<i64>,
    /// The version of the newest snapshot saved (or loaded) for this stream; 0 for none.
    pub(crate) snapshot_version: i64,
}

impl<A> Loaded<A> {
    fn expected(&self) -> ExpectedVersion {
        if self.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(self.version)
        }
    }
}

/// Most aggregate states a [`CommandHandler`] keeps between commands.
const KEPT_STATES: u64 = 10_000;

/// Aggregate states as last loaded, by stream, with the version they reflect. A stream only
/// ever grows, so a kept state plus the events after its version is the current state: a
/// command reads only what was appended since (usually nothing or a few events) instead of
/// the whole stream, however long it has grown (an inventory gains an event with every order).
/// Per process and in memory: a restart starts empty, another process keeps its own.
#[derive(Clone)]
pub(crate) struct States {
    kept: moka::future::Cache<String, Arc<dyn std::any::Any + Send + Sync>>,
}

impl States {
    fn new() -> States {
        States {
            kept: moka::future::Cache::new(KEPT_STATES),
        }
    }

    async fn get<A: Clone + Send + Sync + 'static>(&self, stream: &str) -> Option<Loaded<A>> {
        let kept = self.kept.get(stream).await?;
        kept.downcast_ref::<Loaded<A>>().cloned()
    }

    async fn keep<A: Clone + Send + Sync + 'static>(&self, stream: &str, loaded: Loaded<A>) {
        self.kept.insert(stream.to_owned(), Arc::new(loaded)).await;
    }
}

/// Folds a stream into `A`: from the state kept in `states` (if any), else from the stream's
/// snapshot (if the aggregate takes them and one of its format is kept), then the events
/// appended after it; keeps the result, and saves a new snapshot once enough events were
/// folded since the last one. Loads thus cost what was appended since, not the stream's
/// length, also in a process that just started.
pub(crate) async fn load<A>(
    store: &dyn EventStore,
    states: &States,
    stream: &str,
) -> Result<Loaded<A>, CommandError>
where
    A: Aggregate + Clone + Send + Sync + 'static,
    A::Event: DeserializeOwned,
{
    let kept = states.get::<A>(stream).await;
    let fresh = kept.is_none();
    let mut loaded = match kept {
        Some(kept) => kept,
        None => from_snapshot::<A>(store, stream).await?,
    };
    let recorded = store.read_stream(stream, loaded.version + 1).await?;
    for event in &recorded {
        loaded.state.apply(&decode::<A::Event>(event)?);
    }
    if let Some(last) = recorded.last() {
        loaded.version = last.stream_version;
        loaded.last_position = Some(last.global_position);
    }
    if let Some(format) = A::snapshots() {
        if loaded.version - loaded.snapshot_version >= format.every {
            save_snapshot(store, stream, &format, &loaded).await;
            loaded.snapshot_version = loaded.version;
        }
    }
    if fresh || !recorded.is_empty() {
        states.keep(stream, loaded.clone()).await;
    }
    Ok(loaded)
}

/// The state in the stream's snapshot, or the empty state when there is none to use (the
/// aggregate takes none, none was taken yet, or it is of another format).
async fn from_snapshot<A: Aggregate>(
    store: &dyn EventStore,
    stream: &str,
) -> Result<Loaded<A>, CommandError> {
    let empty = Loaded {
        state: A::default(),
        version: 0,
        last_position: None,
        snapshot_version: 0,
    };
    let Some(format) = A::snapshots() else {
        return Ok(empty);
    };
    let Some(snapshot) = store.load_snapshot(stream).await? else {
        return Ok(empty);
    };
    if snapshot.format != format.version {
        tracing::debug!(
            stream,
            format = snapshot.format,
            "snapshot of another format ignored"
        );
        return Ok(empty);
    }
    match format.decode(snapshot.state) {
        Ok(state) => Ok(Loaded {
            state,
            version: snapshot.version,
            last_position: Some(snapshot.position),
            snapshot_version: snapshot.version,
        }),
        Err(e) => {
            tracing::warn!(stream, error = %e, "unreadable snapshot ignored; replaying the stream");
            Ok(empty)
        }
    }
}

/// Saves `loaded` as the stream's snapshot. A failure is logged, never the command's: the
/// next load just reads more events.
async fn save_snapshot<A>(
    store: &dyn EventStore,
    stream: &str,
    format: &domain::SnapshotFormat<A>,
    loaded: &Loaded<A>,
) {
    let state = match format.encode(&loaded.state) {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!(stream, error = %e, "state not encodable as a snapshot");
            return;
        }
    };
    let snapshot = events::Snapshot {
        stream_id: stream.to_owned(),
        format: format.version,
        version: loaded.version,
        position: loaded.last_position.unwrap_or(0),
        state,
    };
    if let Err(e) = store.save_snapshot(snapshot).await {
        tracing::warn!(stream, error = %e, "snapshot not saved");
    }
}

/// One attempt at a command: the streams it read (with the versions it read) and the events it
/// decided. [`Attempt::commit`] appends them all at once, each stream checked against the
/// version this attempt read, so the decision holds only if nothing it read has moved.
pub struct Attempt {
    store: Arc<dyn EventStore>,
    states: States,
    metadata: Metadata,
    addressed: String,
    pinned: Option<i64>,
    read: BTreeMap<String, (ExpectedVersion, i64)>,
    appends: Vec<StreamAppend>,
}

impl Attempt {
    /// Loads aggregate `id`. When it is the stream the command addresses and the caller pinned
    /// a version (`If-Match`), a different current version fails the command with a conflict.
    pub(crate) async fn load<A>(&mut self, id: &A::Id) -> Result<A, CommandError>
    where
        A: Aggregate + Clone + Send + Sync + 'static,
        A::Event: DeserializeOwned,
    {
        Ok(self.load_full::<A>(id).await?.state)
    }

    pub(crate) async fn load_full<A>(&mut self, id: &A::Id) -> Result<Loaded<A>, CommandError>
    where
        A: Aggregate + Clone + Send + Sync + 'static,
        A::Event: DeserializeOwned,
    {
        let stream = A::stream_id(id);
        let loaded = load::<A>(&*self.store, &self.states, &stream).await?;
        if let Some(pinned) = self.pinned.filter(|_| stream == self.addressed) {
            if pinned != loaded.version {
                return Err(CommandError::Conflict {
                    stream_id: stream,
                    actual: loaded.version,
                });
            }
        }
        self.read
            .insert(stream, (loaded.expected(), loaded.version));
        Ok(loaded)
    }

    /// Records events for aggregate `id`, which this attempt must have loaded; they are
    /// appended expecting the version it read. With no events, a stream the attempt read is
    /// still checked to be unchanged, and one it did not read is left alone.
    pub(crate) fn emit<A>(&mut self, id: &A::Id, events: &[A::Event])
    where
        A: Aggregate,
        A::Event: Serialize,
    {
        let stream = A::stream_id(id);
        if events.is_empty() && !self.read.contains_key(&stream) {
            // Nothing to write to a stream the decision did not read: no check either.
            return;
        }
        let expected = self.expected(&stream);
        self.appends.push(StreamAppend {
            stream_id: stream,
            expected,
            events: events.iter().map(|e| encode(e, &self.metadata)).collect(),
        });
    }

    /// Makes the decision depend on aggregate `id` staying as read (for example a product's
    /// price), without writing to it: a concurrent change fails the append and the command is
    /// decided again.
    pub(crate) fn require_unchanged<A: Aggregate>(&mut self, id: &A::Id) {
        let stream = A::stream_id(id);
        let expected = self.expected(&stream);
        self.appends.push(StreamAppend {
            stream_id: stream,
            expected,
            events: vec![],
        });
    }

    fn expected(&self, stream: &str) -> ExpectedVersion {
        self.read
            .get(stream)
            .map_or(ExpectedVersion::NoStream, |(expected, _)| *expected)
    }

    /// Appends everything decided, atomically, and answers for the addressed stream.
    pub(crate) async fn commit(self) -> Result<CommandOutcome, CommandError> {
        let read_version = self.read.get(&self.addressed).map_or(0, |(_, v)| *v);
        if self.appends.iter().all(|a| a.events.is_empty()) {
            // Nothing to write: the command was a no-op on current state.
            return Ok(CommandOutcome {
                stream_id: self.addressed,
                stream_version: read_version,
                global_position: None,
                replayed: false,
            });
        }
        let outcome = self.store.append(self.appends).await?;
        Ok(CommandOutcome {
            stream_version: outcome.version_of(&self.addressed).unwrap_or(read_version),
            stream_id: self.addressed,
            global_position: outcome.last_position,
            replayed: false,
        })
    }
}

/// Executes commands against an event store.
#[derive(Clone)]
pub struct CommandHandler {
    pub(crate) store: Arc<dyn EventStore>,
    states: States,
    max_attempts: u32,
    pub(crate) signup_credit: Option<domain::Money>,
}

impl CommandHandler {
    /// A handler that retries a conflicting command up to 25 times, backing off (with jitter)
    /// up to 250 ms, so that even a hot stream (one SKU many shoppers buy) rarely makes a
    /// caller who pinned no version see a conflict.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        CommandHandler {
            store,
            states: States::new(),
            max_attempts: 25,
            signup_credit: None,
        }
    }

    /// Every customer account registered from now on starts with `credit` in its wallet,
    /// granted in the same append that opens the account. Zero means none.
    pub fn with_signup_credit(mut self, credit: domain::Money) -> Self {
        self.signup_credit = Some(credit).filter(|c| c.amount_minor() > 0);
        self
    }

    /// The event store commands are written to.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// An attempt that reads like a command's but is never committed (previews).
    pub(crate) fn dry_run(&self, ctx: &CommandContext, addressed: String) -> Attempt {
        Attempt {
            store: self.store.clone(),
            states: self.states.clone(),
            metadata: ctx.metadata(),
            addressed,
            pinned: None,
            read: BTreeMap::new(),
            appends: Vec::new(),
        }
    }

    pub(crate) async fn load<A>(&self, id: &A::Id) -> Result<Loaded<A>, CommandError>
    where
        A: Aggregate + Clone + Send + Sync + 'static,
        A::Event: DeserializeOwned,
    {
        load::<A>(&*self.store, &self.states, &A::stream_id(id)).await
    }

    /// Runs a command: `decide` is called with a fresh [`Attempt`] until it commits, fails for
    /// another reason than a conflict, or the conflict must surface (the caller pinned a
    /// version, or attempts ran out). Retries wait a little, with jitter. One `command` span
    /// covers all attempts.
    pub(crate) async fn execute<F, Fut>(
        &self,
        ctx: &CommandContext,
        addressed: String,
        pinned: Option<i64>,
        mut decide: F,
    ) -> Result<CommandOutcome, CommandError>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: std::future::Future<Output = Result<CommandOutcome, CommandError>>,
    {
        let span = tracing::info_span!("command", stream_id = %addressed,
            correlation_id = %ctx.correlation_id);
        async {
            let mut n = 0;
            loop {
                n += 1;
                let attempt = Attempt {
                    store: self.store.clone(),
                    states: self.states.clone(),
                    metadata: ctx.metadata(),
                    addressed: addressed.clone(),
                    pinned,
                    read: BTreeMap::new(),
                    appends: Vec::new(),
                };
                let result = decide(attempt).await;
                match &result {
                    Ok(outcome) => {
                        tracing::info!(version = outcome.stream_version,
                            position = ?outcome.global_position, "accepted");
                    }
                    Err(CommandError::Conflict { .. })
                        if pinned.is_none() && n < self.max_attempts =>
                    {
                        let ceiling_ms = (2_u64 << n.min(7)).min(250);
                        let jitter =
                            (Uuid::new_v4().as_u128() % u128::from(ceiling_ms * 1000)) as u64;
                        tracing::debug!(attempt = n, "conflict, retrying");
                        tokio::time::sleep(Duration::from_micros(jitter)).await;
                        continue;
                    }
                    Err(e) => tracing::info!(error = %e, "refused"),
                }
                return result;
            }
        }
        .instrument(span)
        .await
    }
}
