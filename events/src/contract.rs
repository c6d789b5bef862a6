//! The behaviour every [`EventStore`] adapter must show, as async checks that panic on failure.
//!
//! Adapter test files instantiate the whole suite with [`crate::event_store_contract!`], so a
//! new check reaches every adapter at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use crate::envelope::{ExpectedVersion, Metadata, NewEvent, StreamAppend};
use crate::store::{EventStore, StoreError};

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TestEvent".into(),
        schema_version: 1,
        payload: json!({ "n": n }),
        metadata: Metadata {
            correlation_id: Uuid::now_v7(),
            causation_id: Some(Uuid::now_v7()),
            actor: Some("tester".into()),
            traceparent: None,
        },
    }
}

fn append(stream: &str, expected: ExpectedVersion, n: usize) -> StreamAppend {
    StreamAppend {
        stream_id: stream.into(),
        expected,
        events: (0..n as i64).map(event).collect(),
    }
}

fn stream() -> String {
    format!("test-{}", Uuid::new_v4().simple())
}

/// Appending to a new stream numbers versions from 1, assigns increasing global positions and
/// keeps every envelope field.
pub async fn append_and_read_back(store: Arc<dyn EventStore>) {
    let s = stream();
    let written = append(&s, ExpectedVersion::NoStream, 3);
    let outcome = store.append(vec![written.clone()]).await.unwrap();
    assert_eq!(outcome.version_of(&s), Some(3));

    let read = store.read_stream(&s, 1).await.unwrap();
    assert_eq!(read.len(), 3);
    for (i, (got, sent)) in read.iter().zip(&written.events).enumerate() {
        assert_eq!(got.stream_version, i as i64 + 1);
        assert_eq!(got.event_id, sent.event_id);
        assert_eq!(got.event_type, sent.event_type);
        assert_eq!(got.payload, sent.payload);
        assert_eq!(got.metadata, sent.metadata);
        assert_eq!(got.stream_id, s);
    }
    assert!(read
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));
    assert_eq!(outcome.last_position, Some(read[2].global_position));
    assert_eq!(store.read_stream(&s, 3).await.unwrap().len(), 1);
    assert!(store.head_position().await.unwrap() >= read[2].global_position);
}

/// Each expected-version mode is enforced and a conflict reports the actual version.
pub async fn expected_versions_are_enforced(store: Arc<dyn EventStore>) {
    let s = stream();
    store
        .append(vec![append(&s, ExpectedVersion::NoStream, 2)])
        .await
        .unwrap();

    match store
        .append(vec![append(&s, ExpectedVersion::NoStream, 1)])
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, 2),
        other => panic!("expected conflict, got {other:?}"),
    }
    match store
        .append(vec![append(&s, ExpectedVersion::Exact(1), 1)])
        .await
    {
        Err(StoreError::Conflict {
            actual, stream_id, ..
        }) => {
            assert_eq!(actual, 2);
            assert_eq!(stream_id, s);
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    let ok = store
        .append(vec![append(&s, ExpectedVersion::Exact(2), 1)])
        .await
        .unwrap();
    assert_eq!(ok.version_of(&s), Some(3));
    let any = store
        .append(vec![append(&s, ExpectedVersion::Any, 2)])
        .await
        .unwrap();
    assert_eq!(any.version_of(&s), Some(5));
    match store
        .append(vec![append(&stream(), ExpectedVersion::Exact(4), 1)])
        .await
    {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, 0),
        other => panic!("expected conflict on a missing stream, got {other:?}"),
    }
    assert_eq!(store.read_stream(&s, 1).await.unwrap().len(), 5);
}

/// A multi-stream append writes all streams or none.
pub async fn multi_stream_appends_are_atomic(store: Arc<dyn EventStore>) {
    let (a, b, c) = (stream(), stream(), stream());
    store
        .append(vec![append(&b, ExpectedVersion::NoStream, 1)])
        .await
        .unwrap();
    let head = store.head_position().await.unwrap();

    // b is at version 1, so expecting "no stream" fails and a and c must stay empty.
    let failed = store
        .append(vec![
            append(&a, ExpectedVersion::NoStream, 2),
            append(&b, ExpectedVersion::NoStream, 1),
            append(&c, ExpectedVersion::Any, 1),
        ])
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict { ref stream_id, .. }) if *stream_id == b));
    assert!(store.read_stream(&a, 1).await.unwrap().is_empty());
    assert!(store.read_stream(&c, 1).await.unwrap().is_empty());
    assert_eq!(store.read_stream(&b, 1).await.unwrap().len(), 1);
    assert_eq!(store.head_position().await.unwrap(), head);

    let ok = store
        .append(vec![
            append(&c, ExpectedVersion::NoStream, 1),
            append(&a, ExpectedVersion::NoStream, 2),
            append(&b, ExpectedVersion::Exact(1), 1),
        ])
        .await
        .unwrap();
    assert_eq!(
        ok.versions,
        vec![(c.clone(), 1), (a.clone(), 2), (b.clone(), 2)]
    );
    // Positions follow request order.
    let log = store.read_all(head, 100).await.unwrap();
    let order: Vec<_> = log.iter().map(|e| e.stream_id.clone()).collect();
    assert_eq!(order, vec![c, a.clone(), a, b]);
}

/// A malformed append is refused before anything is written.
pub async fn invalid_appends_are_refused(store: Arc<dyn EventStore>) {
    let s = stream();
    let twice = store
        .append(vec![
            append(&s, ExpectedVersion::Any, 1),
            append(&s, ExpectedVersion::Any, 1),
        ])
        .await;
    assert!(matches!(twice, Err(StoreError::InvalidAppend(_))));
    assert!(store.read_stream(&s, 1).await.unwrap().is_empty());
    assert!(matches!(
        store
            .append(vec![append("", ExpectedVersion::Any, 1)])
            .await,
        Err(StoreError::InvalidAppend(_))
    ));
}

/// An event id is stored once in the whole store: reusing it in another stream is refused.
/// (EventStoreDB checks ids per stream only; its adapter is exempt, see the macro.)
pub async fn event_ids_are_unique_across_streams(store: Arc<dyn EventStore>) {
    let s = stream();
    let first = append(&s, ExpectedVersion::Any, 1);
    store.append(vec![first.clone()]).await.unwrap();
    let reused_id = StreamAppend {
        stream_id: stream(),
        expected: ExpectedVersion::Any,
        events: first.events,
    };
    assert!(matches!(
        store.append(vec![reused_id]).await,
        Err(StoreError::InvalidAppend(_))
    ));
}

/// Concurrent writers that all expect the same version: exactly one wins, the others get a
/// conflict naming the winner's version, and the stream holds only the winner's events.
pub async fn concurrent_writers_to_one_stream_conflict(store: Arc<dyn EventStore>) {
    let s = stream();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(vec![append(&s, ExpectedVersion::NoStream, 2)])
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcome) => {
                won += 1;
                assert_eq!(outcome.version_of(&s), Some(2));
            }
            Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, 2),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.read_stream(&s, 1).await.unwrap().len(), 2);
}

/// The global log pages by position without gaps or repeats.
pub async fn global_log_pages_by_position(store: Arc<dyn EventStore>) {
    let start = store.head_position().await.unwrap();
    let s = stream();
    store
        .append(vec![append(&s, ExpectedVersion::NoStream, 7)])
        .await
        .unwrap();
    let mut after = start;
    let mut seen = Vec::new();
    loop {
        let page = store.read_all(after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        after = page.last().unwrap().global_position;
        seen.extend(page);
    }
    let ours: Vec<_> = seen.iter().filter(|e| e.stream_id == s).collect();
    assert_eq!(ours.len(), 7);
    assert!(seen
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));
}

/// Many concurrent appenders (single- and multi-stream) while a follower pages through the
/// log from its last seen position: every event is read exactly once, and each stream's events
/// arrive in version order. This is the commit-order pitfall check.
pub async fn follower_sees_every_event_once_under_concurrent_appends(store: Arc<dyn EventStore>) {
    const WRITERS: usize = 8;
    const APPENDS_PER_WRITER: usize = 40;
    let start = store.head_position().await.unwrap();
    let shared: Vec<String> = (0..3).map(|_| stream()).collect();

    let mut expected_ids = HashSet::new();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let shared = shared.clone();
        let own = stream();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..APPENDS_PER_WRITER {
                // Alternate single-stream appends with multi-stream ones that also touch a
                // contended shared stream (retried on conflict, like a command handler).
                let mut batch = vec![append(&own, ExpectedVersion::Any, 1 + i % 2)];
                if i % 3 == 0 {
                    batch.push(append(
                        &shared[(w + i) % shared.len()],
                        ExpectedVersion::Any,
                        1,
                    ));
                }
                for a in &batch {
                    ids.extend(a.events.iter().map(|e| e.event_id));
                }
                store.append(batch).await.expect("append");
                if i % 5 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            ids
        }));
    }

    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut after = start;
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut idle_rounds = 0;
            while Instant::now() < deadline {
                let page = store.read_all(after, 17).await.expect("read_all");
                if page.is_empty() {
                    idle_rounds += 1;
                    if idle_rounds > 200 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle_rounds = 0;
                after = page.last().unwrap().global_position;
                seen.extend(page);
            }
            seen
        })
    };

    for writer in writers {
        expected_ids.extend(writer.await.unwrap());
    }
    let seen = follower.await.unwrap();

    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for e in &seen {
        *counts.entry(e.event_id).or_default() += 1;
    }
    let missing = expected_ids
        .iter()
        .filter(|id| !counts.contains_key(id))
        .count();
    let repeated = counts.values().filter(|c| **c > 1).count();
    assert_eq!(missing, 0, "follower skipped {missing} events");
    assert_eq!(repeated, 0, "follower read {repeated} events twice");
    assert_eq!(seen.len(), expected_ids.len());

    let mut last_version: HashMap<&str, i64> = HashMap::new();
    for e in &seen {
        let last = last_version.entry(e.stream_id.as_str()).or_insert(0);
        assert_eq!(
            e.stream_version,
            *last + 1,
            "stream {} out of order",
            e.stream_id
        );
        *last = e.stream_version;
    }
    assert!(seen
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));
}

/// Instantiates every contract check as a test. `$make` is an async expression returning
/// `(Arc<dyn EventStore>, guard)`; the guard lives as long as the test.
///
/// `event_store_contract!(make(), per_stream_event_ids, #[attr]...)` leaves out the
/// store-wide event id check (for EventStoreDB, which checks ids per stream) and puts the
/// attributes (for example `#[ignore = "..."]`) on every test.
#[macro_export]
macro_rules! event_store_contract {
    ($make:expr) => {
        $crate::event_store_contract!(@tests $make; [];
            append_and_read_back,
            expected_versions_are_enforced,
            multi_stream_appends_are_atomic,
            invalid_appends_are_refused,
            event_ids_are_unique_across_streams,
            concurrent_writers_to_one_stream_conflict,
            global_log_pages_by_position,
            follower_sees_every_event_once_under_concurrent_appends,
        );
    };
    ($make:expr, per_stream_event_ids $(, #[$attr:meta])*) => {
        $crate::event_store_contract!(@tests $make; [$(#[$attr])*];
            append_and_read_back,
            expected_versions_are_enforced,
            multi_stream_appends_are_atomic,
            invalid_appends_are_refused,
            concurrent_writers_to_one_stream_conflict,
            global_log_pages_by_position,
            follower_sees_every_event_once_under_concurrent_appends,
        );
    };
    (@tests $make:expr; $attrs:tt; $($name:ident,)*) => {
        $( $crate::event_store_contract!(@one $make; $attrs; $name); )*
    };
    (@one $make:expr; [$(#[$attr:meta])*]; $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        $(#[$attr])*
        async fn $name() {
            let (store, _guard) = $make.await;
            $crate::contract::$name(store).await;
        }
    };
}
