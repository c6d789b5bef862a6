//! Tests of the commit-log protocol against a model of EventStoreDB's write semantics.
//!
//! The model is not EventStoreDB: it is the handful of rules the protocol relies on (an
//! append checks the stream's last revision; repeating the same event ids at the same
//! expected revision is a no-op; `$all` is one ordered log with equal commit and prepare
//! positions; system streams are interleaved). It lets the protocol's crash and concurrency
//! paths run here, where no EventStoreDB can. The same contract suite runs against a live
//! server in `tests/contract_eventstoredb.rs` when `EVENTSTOREDB_URL` is set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Utc;

use super::*;
use crate::envelope::ExpectedVersion;

#[derive(Debug, Default)]
struct State {
    log: Vec<EsRecord>,
    streams: HashMap<String, Vec<usize>>,
    /// Appends left before every append fails (a dying writer); `None` = never.
    appends_before_crash: Option<usize>,
    /// Calls made, each a round trip to a real server.
    round_trips: usize,
}

/// EventStoreDB's write rules, in memory.
#[derive(Debug)]
struct Model {
    state: Mutex<State>,
    /// Whether a repeated write is acknowledged (as EventStoreDB does) or refused with a
    /// wrong-revision error (so the protocol's read-back path runs too).
    idempotent_repeats: bool,
}

impl Model {
    fn new(idempotent_repeats: bool) -> Arc<Model> {
        Arc::new(Model {
            state: Mutex::new(State::default()),
            idempotent_repeats,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn crash_after(&self, appends: usize) {
        self.state().appends_before_crash = Some(appends);
    }

    fn heal(&self) {
        self.state().appends_before_crash = None;
    }

    fn push(
        state: &mut State,
        stream: &str,
        id: Uuid,
        event_type: &str,
        data: Vec<u8>,
        metadata: Vec<u8>,
    ) -> u64 {
        let position = (state.log.len() as u64 + 1) * 64;
        let revisions = state.streams.entry(stream.to_owned()).or_default();
        let revision = revisions.len() as u64;
        revisions.push(state.log.len());
        state.log.push(EsRecord {
            stream: stream.to_owned(),
            revision,
            id,
            event_type: event_type.to_owned(),
            data,
            metadata,
            position: Some(LogPosition {
                commit: position,
                prepare: position,
            }),
            created: Utc::now(),
        });
        position
    }
}

#[async_trait]
impl Backend for Model {
    async fn append(
        &self,
        stream: &str,
        expected: Expect,
        events: Vec<EsEvent>,
    ) -> Result<Option<u64>, AppendError> {
        // A round trip: other writers get to run in between, as over a network.
        tokio::task::yield_now().await;
        self.state().round_trips += 1;
        let mut state = self.state();
        if let Some(left) = state.appends_before_crash.as_mut() {
            if *left == 0 {
                return Err(AppendError::Store(unavailable(
                    "connection lost (injected)",
                )));
            }
            *left -= 1;
        }
        let revisions = state.streams.get(stream).cloned().unwrap_or_default();
        let current = (revisions.len() as u64).checked_sub(1);
        let next = match expected {
            Expect::NoStream => 0,
            Expect::Revision(r) => r + 1,
        };
        if current.map_or(0, |c| c + 1) != next {
            // A repeat of what is already there at that place is a no-op.
            let start = usize::try_from(next).unwrap_or(usize::MAX);
            let repeat = revisions.len() >= start + events.len()
                && events
                    .iter()
                    .zip(&revisions[start.min(revisions.len())..])
                    .all(|(e, i)| state.log[*i].id == e.id);
            if repeat && self.idempotent_repeats {
                let last = revisions[start + events.len() - 1];
                return Ok(state.log[last].position.map(|p| p.commit));
            }
            return Err(AppendError::WrongRevision { current });
        }
        // Now and then the server writes its own statistics into `$all`.
        if state.log.len() % 7 == 3 {
            Model::push(
                &mut state,
                "$stats-127.0.0.1:2113",
                Uuid::new_v4(),
                "$statsCollected",
                b"{}".to_vec(),
                Vec::new(),
            );
        }
        let mut last = None;
        for e in events {
            let data = serde_json::to_vec(&e.data).unwrap();
            let metadata = serde_json::to_vec(&e.metadata).unwrap();
            last = Some(Model::push(
                &mut state,
                stream,
                e.id,
                &e.event_type,
                data,
                metadata,
            ));
        }
        Ok(last)
    }

    async fn read_stream(
        &self,
        stream: &str,
        revision: u64,
        max: usize,
    ) -> Result<Vec<EsRecord>, StoreError> {
        // A round trip: other writers get to run in between, as over a network.
        tokio::task::yield_now().await;
        self.state().round_trips += 1;
        let state = self.state();
        let Some(revisions) = state.streams.get(stream) else {
            return Ok(Vec::new());
        };
        Ok(revisions
            .iter()
            .skip(usize::try_from(revision).unwrap_or(usize::MAX))
            .take(max)
            .map(|i| state.log[*i].clone())
            .collect())
    }

    async fn last_event(&self, stream: &str) -> Result<Option<EsRecord>, StoreError> {
        // A round trip: other writers get to run in between, as over a network.
        tokio::task::yield_now().await;
        self.state().round_trips += 1;
        let state = self.state();
        Ok(state
            .streams
            .get(stream)
            .and_then(|r| r.last())
            .map(|i| state.log[*i].clone()))
    }

    async fn read_all(
        &self,
        after: Option<LogPosition>,
        max: usize,
        backwards: bool,
    ) -> Result<Vec<EsRecord>, StoreError> {
        // A round trip: other writers get to run in between, as over a network.
        tokio::task::yield_now().await;
        self.state().round_trips += 1;
        let state = self.state();
        let records = state.log.iter().filter(|r| match (after, r.position) {
            (None, _) => true,
            (Some(a), Some(p)) => {
                if backwards {
                    p < a
                } else {
                    p > a
                }
            }
            (Some(_), None) => false,
        });
        Ok(if backwards {
            records.rev().take(max).cloned().collect()
        } else {
            records.take(max).cloned().collect()
        })
    }
}

async fn make_idempotent() -> (Arc<dyn EventStore>, ()) {
    (Arc::new(CommitLogStore::new(Model::new(true))), ())
}

async fn make_refusing() -> (Arc<dyn EventStore>, ()) {
    (Arc::new(CommitLogStore::new(Model::new(false))), ())
}

mod contract_with_idempotent_repeats {
    use super::*;
    crate::event_store_contract!(make_idempotent(), per_stream_event_ids);
}

mod contract_with_refused_repeats {
    use super::*;
    crate::event_store_contract!(make_refusing(), per_stream_event_ids);
}

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TestEvent".into(),
        schema_version: 1,
        payload: serde_json::json!({ "n": n }),
        metadata: Metadata {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            actor: Some("tester".into()),
            traceparent: None,
        },
    }
}

fn checkout() -> Vec<StreamAppend> {
    ["order-1", "cart-1", "inventory-A", "inventory-B"]
        .iter()
        .enumerate()
        .map(|(i, s)| StreamAppend {
            stream_id: (*s).into(),
            expected: ExpectedVersion::Any,
            events: vec![event(i as i64)],
        })
        .collect()
}

async fn ids(store: &CommitLogStore<Model>) -> Vec<(String, Uuid)> {
    store
        .read_all(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.stream_id, e.event_id))
        .collect()
}

/// A writer dies after its intent is recorded, at every point of writing the streams; the
/// next process completes the append exactly once, before anything written after it.
#[tokio::test]
async fn a_writer_dying_at_any_step_is_completed_once_by_the_next() {
    for idempotent in [true, false] {
        // Appends: 1 intent, then one per stream (4). Dying after 1..=4 leaves 0..=3 streams.
        for survive in 1..=4 {
            let model = Model::new(idempotent);
            let dying = CommitLogStore::new(model.clone());
            let append = checkout();
            let expected: Vec<_> = append
                .iter()
                .map(|a| (a.stream_id.clone(), a.events[0].event_id))
                .collect();
            model.crash_after(survive);
            let failed = dying.append(append).await;
            assert!(
                matches!(failed, Err(StoreError::Unavailable(_))),
                "{failed:?}"
            );
            model.heal();

            // Another process starts, then appends something else.
            let next = CommitLogStore::new(model.clone());
            next.recover().await.unwrap();
            next.recover().await.unwrap();
            let later = StreamAppend {
                stream_id: "order-2".into(),
                expected: ExpectedVersion::NoStream,
                events: vec![event(9)],
            };
            let later_id = later.events[0].event_id;
            next.append(vec![later]).await.unwrap();

            let mut want = expected.clone();
            want.push(("order-2".into(), later_id));
            assert_eq!(
                ids(&next).await,
                want,
                "idempotent={idempotent} survive={survive}"
            );
            for (stream, _) in &expected {
                assert_eq!(next.read_stream(stream, 1).await.unwrap().len(), 1);
            }
        }
    }
}

/// A writer dies before its intent is recorded: nothing of it is ever written.
#[tokio::test]
async fn a_writer_dying_before_its_intent_leaves_nothing() {
    let model = Model::new(true);
    let store = CommitLogStore::new(model.clone());
    model.crash_after(0);
    assert!(store.append(checkout()).await.is_err());
    model.heal();
    store.recover().await.unwrap();
    assert!(ids(&store).await.is_empty());
    assert_eq!(store.head_position().await.unwrap(), 0);
}

/// An intent cannot be invalidated: the streams it names are checked again by every later
/// writer only after it is complete, so a conflicting writer sees its effects.
#[tokio::test]
async fn a_later_writer_sees_a_half_written_intent_as_complete() {
    let model = Model::new(true);
    let store = CommitLogStore::new(model.clone());
    model.crash_after(2); // intent + order-1 written; cart-1 and inventory not yet
    assert!(store.append(checkout()).await.is_err());
    model.heal();
    // A writer that believes inventory-A is new must conflict: the intent wrote it.
    let other = CommitLogStore::new(model.clone());
    let conflict = other
        .append(vec![StreamAppend {
            stream_id: "inventory-A".into(),
            expected: ExpectedVersion::NoStream,
            events: vec![event(1)],
        }])
        .await;
    assert!(
        matches!(conflict, Err(StoreError::Conflict { actual: 1, .. })),
        "{conflict:?}"
    );
}

/// Server events in `$all` and the commit log are not part of the engine's log.
#[tokio::test]
async fn system_streams_and_the_commit_log_stay_out_of_the_log() {
    let model = Model::new(true);
    let store = CommitLogStore::new(model.clone());
    for _ in 0..20 {
        store.append(checkout()).await.unwrap();
    }
    let log = store.read_all(0, 10_000).await.unwrap();
    assert_eq!(log.len(), 80);
    assert!(log.iter().all(|e| is_engine_stream(&e.stream_id)));
    assert!(model.state().log.iter().any(|r| r.stream.starts_with('$')));
    assert!(model.state().log.iter().any(|r| r.stream == COMMIT_LOG));
    assert_eq!(
        store.head_position().await.unwrap(),
        log.last().unwrap().global_position
    );
}

/// An event whose commit and prepare positions differ cannot be named by one number:
/// reading it is an error, never a silent skip.
#[test]
fn explicit_transaction_positions_are_refused() {
    let record = EsRecord {
        stream: "order-1".into(),
        revision: 0,
        id: Uuid::new_v4(),
        event_type: "OrderPlaced".into(),
        data: b"{}".to_vec(),
        metadata: b"{}".to_vec(),
        position: Some(LogPosition {
            commit: 900,
            prepare: 700,
        }),
        created: Utc::now(),
    };
    assert!(matches!(
        global_position(&record),
        Err(StoreError::Unavailable(_))
    ));
}

/// Expected versions map to EventStoreDB's 0-based revisions.
#[test]
fn expected_versions_map_to_revisions() {
    assert_eq!(Expect::at_version(0), Expect::NoStream);
    assert_eq!(Expect::at_version(1), Expect::Revision(0));
    assert_eq!(Expect::at_version(42), Expect::Revision(41));
}

/// The envelope survives the trip through EventStoreDB's event shape.
#[test]
fn envelopes_round_trip_through_custom_metadata() {
    let sent = event(5);
    let es = to_es_event(&sent).unwrap();
    let record = EsRecord {
        stream: "order-9".into(),
        revision: 3,
        id: es.id,
        event_type: es.event_type.clone(),
        data: serde_json::to_vec(&es.data).unwrap(),
        metadata: serde_json::to_vec(&es.metadata).unwrap(),
        position: Some(LogPosition {
            commit: 4096,
            prepare: 4096,
        }),
        created: Utc::now(),
    };
    let got = to_recorded(&record).unwrap();
    assert_eq!(got.event_id, sent.event_id);
    assert_eq!(got.stream_version, 4);
    assert_eq!(got.global_position, 4096);
    assert_eq!(got.schema_version, sent.schema_version);
    assert_eq!(got.payload, sent.payload);
    assert_eq!(got.metadata, sent.metadata);
}

/// What an uncontended append costs in round trips to the server: the commit log's last
/// intent, the check that it is complete, one version read per stream, the intent, one write
/// per stream. A checkout of two lines touches four streams: 11 round trips.
#[tokio::test]
async fn an_uncontended_checkout_costs_eleven_round_trips() {
    let model = Model::new(true);
    let store = CommitLogStore::new(model.clone());
    store.append(checkout()).await.unwrap();
    model.state().round_trips = 0;
    store.append(checkout()).await.unwrap();
    assert_eq!(model.state().round_trips, 1 + 1 + 4 + 1 + 4);
}
