//! EventStoreDB adapter (cargo feature `eventstoredb`), on the official `eventstore` gRPC client.
//!
//! # Mapping
//! - **Streams**: one EventStoreDB stream per engine stream, with the same name. Versions here
//!   are 1-based and revisions there 0-based: version = revision + 1.
//! - **Expected versions**: `NoStream` and `Exact(0)` mean "no stream", `Exact(n)` means "last
//!   revision n - 1", `Any` means no check. EventStoreDB's own check enforces them when the
//!   events are written (see the commit log below for how they are checked first).
//! - **Envelope**: the event id is EventStoreDB's event id, the type its event type and the
//!   payload its JSON data. Schema version, correlation id, causation id and actor travel in
//!   the event's custom metadata (JSON). `recorded_at` is EventStoreDB's `created` stamp.
//! - **Global log**: `$all`, read forwards. `global_position` is the event's commit position.
//!   Events written by gRPC appends are committed prepares, whose commit and prepare positions
//!   are equal, so one number names each event and `(commit, prepare)` order, the order of
//!   `$all`, is number order. An event whose two positions differ (written by a legacy TCP
//!   explicit transaction) cannot be named by one number; reading it fails loudly instead of
//!   risking a skip. System streams (`$...`) and the commit log are not part of the engine's
//!   log and are left out. Stream reads report positions only on servers that send them
//!   (older servers send none; those events read with position 0).
//!
//! # Multi-stream appends: the commit log
//! EventStoreDB writes atomically to one stream only, but the engine decides across streams:
//! a checkout appends to the order, the cart and every inventory stream as one decision, and a
//! registration to the account and its email claim. Writing those streams one after another
//! would leave half a checkout behind whenever a later stream conflicts or the writer dies.
//!
//! So every append goes through one stream, [`COMMIT_LOG`], used as a compare-and-set register:
//! 1. complete the last intent in the commit log, if it is not complete yet (step 4);
//! 2. read each target stream's revision and check the expected versions: a mismatch is a
//!    conflict, and nothing has been written;
//! 3. append an *intent* (every stream, the revision checked, the events) to the commit log,
//!    expecting the commit log's revision read in step 1; when another writer got there
//!    first, start again at step 1 (its intent may have changed our streams);
//! 4. append each stream's events in request order, expecting the revision checked in step 2.
//!    EventStoreDB accepts a repeat of the same event ids at the same expected revision as a
//!    no-op, and a repeat it refuses is recognised by reading the ids back, so completing an
//!    intent twice writes it once.
//!
//! Every writer completes the last intent before it can write its own, so intents are applied
//! in commit-log order, at most one is ever incomplete, and nothing can invalidate an accepted
//! intent. A writer that dies after step 3 is completed by the next append, or by
//! [`EsdbEventStore::connect`].
//!
//! What this gives: all-or-nothing outcomes; no event lost or duplicated by a crash at any
//! step; stream and `$all` order that follow commit order. What it does not give: atomic
//! visibility (for a moment a reader can see the order's events of a checkout before its
//! cart's; projections converge, and read-your-writes waits for the append's last position),
//! and parallel writes (appends are serialized by the commit log; each costs about two round
//! trips per stream). The adapter must be the only writer of the engine's streams. Event ids
//! are unique per stream, as EventStoreDB checks them, not across the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::{AppendOutcome, Metadata, NewEvent, RecordedEvent, StreamAppend};
use crate::store::{check_distinct, version_matches, EventStore, StoreError};

/// The stream that serializes appends and holds the intent of each (see the module docs).
/// Its name has no `-`, so it belongs to no engine category.
pub const COMMIT_LOG: &str = "commerce_commits";

/// Event type of an intent in the commit log.
const INTENT_TYPE: &str = "CommitIntent";

/// How many intents EventStoreDB keeps in the commit log (`$maxCount`); only the last matters.
const COMMIT_LOG_MAX_COUNT: u64 = 1_000;

/// How long an append keeps trying when other writers keep winning the commit log.
const CONTENTION_DEADLINE: Duration = Duration::from_secs(30);

/// Page size when reading `$all` or a stream.
const PAGE: usize = 500;

/// A position in `$all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LogPosition {
    commit: u64,
    prepare: u64,
}

/// What a stream must be at for a write to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The stream must not exist.
    NoStream,
    /// The stream's last revision must be this one.
    Revision(u64),
}

impl Expect {
    /// The expectation for a stream at `version` (1-based; 0 = no stream).
    fn at_version(version: i64) -> Expect {
        match u64::try_from(version) {
            Ok(v) if v > 0 => Expect::Revision(v - 1),
            _ => Expect::NoStream,
        }
    }
}

/// An event to write to EventStoreDB.
#[derive(Debug, Clone)]
pub(crate) struct EsEvent {
    id: Uuid,
    event_type: String,
    data: serde_json::Value,
    metadata: serde_json::Value,
}

/// An event read from EventStoreDB.
#[derive(Debug, Clone)]
pub(crate) struct EsRecord {
    stream: String,
    revision: u64,
    id: Uuid,
    event_type: String,
    data: Vec<u8>,
    metadata: Vec<u8>,
    /// `None` when the server did not say (stream reads on older servers).
    position: Option<LogPosition>,
    created: DateTime<Utc>,
}

/// Why a write failed.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// The stream was not where the write expected; `current` is its last revision.
    WrongRevision { current: Option<u64> },
    /// Anything else.
    Store(StoreError),
}

/// The few EventStoreDB operations the commit log needs. Implemented by the gRPC client; the
/// unit tests implement it with a model of EventStoreDB's write semantics as well.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Appends `events` to `stream` if it is where `expected` says; returns the commit
    /// position of the last event written.
    async fn append(
        &self,
        stream: &str,
        expected: Expect,
        events: Vec<EsEvent>,
    ) -> Result<Option<u64>, AppendError>;

    /// Up to `max` events of `stream` from `revision` on; empty when the stream does not exist.
    async fn read_stream(
        &self,
        stream: &str,
        revision: u64,
        max: usize,
    ) -> Result<Vec<EsRecord>, StoreError>;

    /// The last event of `stream`, if any.
    async fn last_event(&self, stream: &str) -> Result<Option<EsRecord>, StoreError>;

    /// Up to `max` events of `$all` strictly after `after` (from the start when `None`),
    /// forwards; or, when `backwards`, strictly before it (from the end when `None`).
    async fn read_all(
        &self,
        after: Option<LogPosition>,
        max: usize,
        backwards: bool,
    ) -> Result<Vec<EsRecord>, StoreError>;
}

/// The engine's metadata as stored in an event's custom metadata.
#[derive(Debug, Serialize, Deserialize)]
struct StoredMetadata {
    schema_version: i32,
    #[serde(flatten)]
    metadata: Metadata,
}

/// One stream's part of an intent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IntentStream {
    stream_id: String,
    /// The stream's version when the expectations were checked (0 = no stream).
    from_version: i64,
    events: Vec<NewEvent>,
}

/// A whole append, as recorded in the commit log before any stream is written.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    streams: Vec<IntentStream>,
}

fn unavailable(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("EventStoreDB: {what}"))
}

fn to_es_event(event: &NewEvent) -> Result<EsEvent, StoreError> {
    let metadata = serde_json::to_value(StoredMetadata {
        schema_version: event.schema_version,
        metadata: event.metadata.clone(),
    })
    .map_err(|e| StoreError::InvalidAppend(format!("metadata: {e}")))?;
    Ok(EsEvent {
        id: event.event_id,
        event_type: event.event_type.clone(),
        data: event.payload.clone(),
        metadata,
    })
}

/// Whether a record of `$all` belongs to the engine's log.
fn is_engine_stream(stream: &str) -> bool {
    !stream.starts_with('$') && stream != COMMIT_LOG
}

/// The single number that names a record's place in `$all`.
fn global_position(record: &EsRecord) -> Result<i64, StoreError> {
    match record.position {
        None => Ok(0),
        Some(p) if p.commit != p.prepare => Err(unavailable(format_args!(
            "event {} of {} has commit position {} and prepare position {} (an explicit \
             transaction); this adapter names events by one position and cannot read it",
            record.id, record.stream, p.commit, p.prepare
        ))),
        Some(p) => i64::try_from(p.commit).map_err(|_| unavailable("position beyond i64")),
    }
}

fn to_recorded(record: &EsRecord) -> Result<RecordedEvent, StoreError> {
    let decode = |reason: String| StoreError::Decode {
        event_id: record.id,
        reason,
    };
    let stored: StoredMetadata =
        serde_json::from_slice(&record.metadata).map_err(|e| decode(format!("metadata: {e}")))?;
    let payload =
        serde_json::from_slice(&record.data).map_err(|e| decode(format!("payload: {e}")))?;
    let version =
        i64::try_from(record.revision).map_err(|_| decode("revision beyond i64".into()))? + 1;
    Ok(crate::upcast::upcast(RecordedEvent {
        event_id: record.id,
        stream_id: record.stream.clone(),
        stream_version: version,
        global_position: global_position(record)?,
        event_type: record.event_type.clone(),
        schema_version: stored.schema_version,
        payload,
        metadata: stored.metadata,
        recorded_at: record.created,
    }))
}

/// The commit-log protocol over any [`Backend`].
#[derive(Debug)]
pub(crate) struct CommitLogStore<B> {
    backend: Arc<B>,
}

impl<B> Clone for CommitLogStore<B> {
    fn clone(&self) -> Self {
        CommitLogStore {
            backend: self.backend.clone(),
        }
    }
}

impl<B: Backend> CommitLogStore<B> {
    pub(crate) fn new(backend: Arc<B>) -> Self {
        CommitLogStore { backend }
    }

    /// The version (1-based; 0 = no stream) of a stream.
    async fn version(&self, stream: &str) -> Result<i64, StoreError> {
        Ok(match self.backend.last_event(stream).await? {
            Some(last) => i64::try_from(last.revision).map_err(|_| unavailable("revision"))? + 1,
            None => 0,
        })
    }

    /// The commit log's last revision and intent.
    async fn last_intent(&self) -> Result<(Expect, Option<Intent>), StoreError> {
        let Some(last) = self.backend.last_event(COMMIT_LOG).await? else {
            return Ok((Expect::NoStream, None));
        };
        let intent = serde_json::from_slice(&last.data).map_err(|e| StoreError::Decode {
            event_id: last.id,
            reason: format!("commit log intent: {e}"),
        })?;
        Ok((Expect::Revision(last.revision), Some(intent)))
    }

    /// Whether every event of `part` is in its stream, at the place the intent gave it.
    async fn is_written(&self, part: &IntentStream) -> Result<bool, StoreError> {
        let Some(last) = part.events.last() else {
            return Ok(true);
        };
        let revision = u64::try_from(part.from_version).unwrap_or(0)
            + u64::try_from(part.events.len()).unwrap_or(0)
            - 1;
        let found = self
            .backend
            .read_stream(&part.stream_id, revision, 1)
            .await?;
        Ok(found.first().is_some_and(|r| r.id == last.event_id))
    }

    /// Writes every stream of `intent` that is not written yet, in order. Returns the commit
    /// position of the intent's last event when its write reported one. `fresh` skips the
    /// up-front check for an intent written just now (another writer may already be completing
    /// it, which the writes below recognise anyway).
    async fn complete(&self, intent: &Intent, fresh: bool) -> Result<Option<i64>, StoreError> {
        // Streams are written in order, so when the last one is written, all are.
        if let Some(last) = intent.streams.iter().rev().find(|s| !s.events.is_empty()) {
            if !fresh && self.is_written(last).await? {
                return Ok(None);
            }
        }
        let mut last_position = None;
        for part in &intent.streams {
            if part.events.is_empty() {
                continue;
            }
            let events = part
                .events
                .iter()
                .map(to_es_event)
                .collect::<Result<Vec<_>, _>>()?;
            let expected = Expect::at_version(part.from_version);
            last_position = match self.backend.append(&part.stream_id, expected, events).await {
                Ok(position) => position.and_then(|p| i64::try_from(p).ok()),
                Err(AppendError::WrongRevision { current }) => {
                    // Written already (by another writer completing the same intent), or
                    // written over by something outside the commit log.
                    if !self.is_written(part).await? {
                        return Err(unavailable(format_args!(
                            "stream {} is at revision {current:?}, not where the commit log \
                             left it: something wrote to it outside this adapter",
                            part.stream_id
                        )));
                    }
                    None
                }
                Err(AppendError::Store(e)) => return Err(e),
            };
        }
        Ok(last_position)
    }

    /// Completes the last intent, if it is incomplete (after a writer died).
    pub(crate) async fn recover(&self) -> Result<(), StoreError> {
        if let (_, Some(intent)) = self.last_intent().await? {
            self.complete(&intent, false).await?;
        }
        Ok(())
    }

    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        check_distinct(&appends)?;
        let started = Instant::now();
        loop {
            // 1. Complete whatever the last writer left.
            let (log_revision, last) = self.last_intent().await?;
            if let Some(intent) = &last {
                self.complete(intent, false).await?;
            }
            // 2. Check every expectation against the streams as they are now.
            let mut parts = Vec::with_capacity(appends.len());
            for append in &appends {
                let actual = self.version(&append.stream_id).await?;
                if !version_matches(append.expected, actual) {
                    return Err(StoreError::Conflict {
                        stream_id: append.stream_id.clone(),
                        expected: append.expected,
                        actual,
                    });
                }
                parts.push(IntentStream {
                    stream_id: append.stream_id.clone(),
                    from_version: actual,
                    events: append.events.clone(),
                });
            }
            let versions: Vec<(String, i64)> = parts
                .iter()
                .map(|p| (p.stream_id.clone(), p.from_version + p.events.len() as i64))
                .collect();
            if parts.iter().all(|p| p.events.is_empty()) {
                return Ok(AppendOutcome {
                    versions,
                    last_position: None,
                });
            }
            // 3. Record the intent, if no other writer has moved the commit log since step 1.
            let intent = Intent { streams: parts };
            let record = EsEvent {
                id: Uuid::now_v7(),
                event_type: INTENT_TYPE.into(),
                data: serde_json::to_value(&intent)
                    .map_err(|e| StoreError::InvalidAppend(e.to_string()))?,
                metadata: serde_json::json!({}),
            };
            match self
                .backend
                .append(COMMIT_LOG, log_revision, vec![record])
                .await
            {
                Ok(_) => {}
                Err(AppendError::WrongRevision { .. }) => {
                    if started.elapsed() > CONTENTION_DEADLINE {
                        return Err(unavailable("the commit log stayed contended for 30 s"));
                    }
                    continue;
                }
                Err(AppendError::Store(e)) => return Err(e),
            }
            // 4. Write the streams. From here on the append is accepted: if this fails, the
            // next writer completes it.
            let position = match self.complete(&intent, true).await? {
                Some(p) => p,
                None => self.head_position().await?,
            };
            return Ok(AppendOutcome {
                versions,
                last_position: Some(position),
            });
        }
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut revision = u64::try_from(from_version.max(1) - 1).unwrap_or(0);
        let mut out = Vec::new();
        loop {
            let page = self.backend.read_stream(stream_id, revision, PAGE).await?;
            for record in &page {
                out.push(to_recorded(record)?);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => revision = last.revision + 1,
                _ => return Ok(out),
            }
        }
    }

    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut from = u64::try_from(after)
            .ok()
            .filter(|a| *a > 0)
            .map(|a| LogPosition {
                commit: a,
                prepare: a,
            });
        let mut out = Vec::new();
        while out.len() < limit {
            let page = self.backend.read_all(from, PAGE, false).await?;
            for record in &page {
                if is_engine_stream(&record.stream) {
                    let event = to_recorded(record)?;
                    if event.global_position > after {
                        out.push(event);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
            }
            match page.last().and_then(|r| r.position) {
                Some(p) if page.len() == PAGE => from = Some(p),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        let mut before = None;
        loop {
            let page = self.backend.read_all(before, PAGE, true).await?;
            if let Some(record) = page.iter().find(|r| is_engine_stream(&r.stream)) {
                return global_position(record);
            }
            match page.last().and_then(|r| r.position) {
                Some(p) if page.len() == PAGE => before = Some(p),
                _ => return Ok(0),
            }
        }
    }
}

#[async_trait]
impl<B: Backend> EventStore for CommitLogStore<B> {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        CommitLogStore::append(self, appends).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        CommitLogStore::read_stream(self, stream_id, from_version).await
    }
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        CommitLogStore::read_all(self, after, limit).await
    }
    async fn head_position(&self) -> Result<i64, StoreError> {
        CommitLogStore::head_position(self).await
    }
}

/// The gRPC client as a [`Backend`].
struct Grpc {
    client: eventstore::Client,
}

impl std::fmt::Debug for Grpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grpc")
    }
}

fn from_client(event: &eventstore::ResolvedEvent) -> EsRecord {
    let e = event.get_original_event();
    // `created` is 100 ns ticks since the Unix epoch; the client rounds it to seconds.
    let created = e
        .metadata
        .get("created")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|ticks| {
            DateTime::from_timestamp(ticks / 10_000_000, ((ticks % 10_000_000) * 100) as u32)
        })
        .unwrap_or(e.created);
    // Stream reads on older servers carry no position: u64::MAX.
    let position = (e.position.commit != u64::MAX).then_some(LogPosition {
        commit: e.position.commit,
        prepare: e.position.prepare,
    });
    EsRecord {
        stream: e.stream_id.clone(),
        revision: e.revision,
        id: e.id,
        event_type: e.event_type.clone(),
        data: e.data.to_vec(),
        metadata: e.custom_metadata.to_vec(),
        position,
        created,
    }
}

async fn collect(
    read: eventstore::Result<eventstore::ReadStream>,
) -> Result<Vec<EsRecord>, StoreError> {
    let mut stream = match read {
        Ok(s) => s,
        Err(eventstore::Error::ResourceNotFound) => return Ok(Vec::new()),
        Err(e) => return Err(unavailable(e)),
    };
    let mut out = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(event)) => out.push(from_client(&event)),
            Ok(None) => return Ok(out),
            Err(eventstore::Error::ResourceNotFound) => return Ok(out),
            Err(e) => return Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl Backend for Grpc {
    async fn append(
        &self,
        stream: &str,
        expected: Expect,
        events: Vec<EsEvent>,
    ) -> Result<Option<u64>, AppendError> {
        let expected = match expected {
            Expect::NoStream => eventstore::ExpectedRevision::NoStream,
            Expect::Revision(r) => eventstore::ExpectedRevision::Exact(r),
        };
        let mut data = Vec::with_capacity(events.len());
        for e in events {
            let event = eventstore::EventData::json(e.event_type, &e.data)
                .and_then(|d| d.id(e.id).metadata_as_json(&e.metadata))
                .map_err(|e| AppendError::Store(StoreError::InvalidAppend(e.to_string())))?;
            data.push(event);
        }
        let options = eventstore::AppendToStreamOptions::default().expected_revision(expected);
        match self.client.append_to_stream(stream, &options, data).await {
            // A repeat acknowledged as a no-op may come back without a position (0).
            Ok(written) => Ok(Some(written.position.commit).filter(|p| *p != 0 && *p != u64::MAX)),
            Err(eventstore::Error::WrongExpectedVersion { current, .. }) => {
                Err(AppendError::WrongRevision {
                    current: match current {
                        eventstore::CurrentRevision::Current(r) => Some(r),
                        eventstore::CurrentRevision::NoStream => None,
                    },
                })
            }
            Err(e) => Err(AppendError::Store(unavailable(e))),
        }
    }

    async fn read_stream(
        &self,
        stream: &str,
        revision: u64,
        max: usize,
    ) -> Result<Vec<EsRecord>, StoreError> {
        let options = eventstore::ReadStreamOptions::default()
            .forwards()
            .position(eventstore::StreamPosition::Position(revision))
            .max_count(max);
        collect(self.client.read_stream(stream, &options).await).await
    }

    async fn last_event(&self, stream: &str) -> Result<Option<EsRecord>, StoreError> {
        let options = eventstore::ReadStreamOptions::default()
            .backwards()
            .position(eventstore::StreamPosition::End)
            .max_count(1);
        Ok(collect(self.client.read_stream(stream, &options).await)
            .await?
            .into_iter()
            .next())
    }

    async fn read_all(
        &self,
        after: Option<LogPosition>,
        max: usize,
        backwards: bool,
    ) -> Result<Vec<EsRecord>, StoreError> {
        let position = match after {
            Some(p) => eventstore::StreamPosition::Position(eventstore::Position {
                commit: p.commit,
                prepare: p.prepare,
            }),
            None if backwards => eventstore::StreamPosition::End,
            None => eventstore::StreamPosition::Start,
        };
        let options = eventstore::ReadAllOptions::default().position(position);
        let options = if backwards {
            options.backwards()
        } else {
            options.forwards()
        };
        // The start position itself may come back; one extra keeps pages full.
        let mut page = collect(self.client.read_all(&options.max_count(max + 1)).await).await?;
        if let Some(start) = after {
            page.retain(|r| {
                r.position
                    .is_none_or(|p| if backwards { p < start } else { p > start })
            });
        }
        page.truncate(max);
        Ok(page)
    }
}

/// The event store on EventStoreDB. See the module docs for the mapping and the commit log.
#[derive(Debug, Clone)]
pub struct EsdbEventStore {
    inner: CommitLogStore<Grpc>,
}

impl EsdbEventStore {
    /// Connects with an EventStoreDB connection string (for example
    /// `esdb://127.0.0.1:2113?tls=false`), caps the commit log's length, and completes an
    /// append a previous process left half-written.
    pub async fn connect(url: &str) -> Result<EsdbEventStore, StoreError> {
        let settings: eventstore::ClientSettings = url
            .parse()
            .map_err(|e| unavailable(format_args!("bad connection string: {e}")))?;
        let client = eventstore::Client::new(settings).map_err(unavailable)?;
        let metadata = eventstore::StreamMetadata::builder()
            .max_count(COMMIT_LOG_MAX_COUNT)
            .build();
        let latest = eventstore::ReadStreamOptions::default()
            .backwards()
            .position(eventstore::StreamPosition::End)
            .max_count(1);
        let current = client
            .get_stream_metadata(COMMIT_LOG, &latest)
            .await
            .map_err(unavailable)?;
        let capped = matches!(&current, eventstore::StreamMetadataResult::Success(m)
            if m.metadata().max_count == Some(COMMIT_LOG_MAX_COUNT));
        if !capped {
            client
                .set_stream_metadata(COMMIT_LOG, &Default::default(), &metadata)
                .await
                .map_err(unavailable)?;
        }
        let store = EsdbEventStore {
            inner: CommitLogStore::new(Arc::new(Grpc { client })),
        };
        store.inner.recover().await?;
        Ok(store)
    }
}

#[async_trait]
impl EventStore for EsdbEventStore {
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        self.inner.append(appends).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id, from_version).await
    }
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn head_position(&self) -> Result<i64, StoreError> {
        self.inner.head_position().await
    }
}

#[cfg(test)]
mod model;
