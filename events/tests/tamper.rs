//! Tampering with the PostgreSQL store directly in SQL is caught by `verify`, which names the
//! first broken stream and version.

use std::sync::Arc;

use events::testing::TestDatabase;
use events::verify::{verify, Report, Tampering};
use events::{EventStore, ExpectedVersion, Metadata, NewEvent, PgEventStore, StreamAppend};
use serde_json::json;
use uuid::Uuid;

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TestEvent".into(),
        schema_version: 1,
        payload: json!({ "n": n, "nested": {"b": 1, "a": [1, 2]} }),
        metadata: Metadata {
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            actor: Some("tester".into()),
            traceparent: None,
        },
    }
}

/// Streams a (4 events) and b (3 events), interleaved, one multi-stream append among them.
async fn store() -> (TestDatabase, PgEventStore) {
    let db = TestDatabase::create().await;
    let store = PgEventStore::new(db.pool.clone());
    let one = |s: &str, n| StreamAppend {
        stream_id: s.into(),
        expected: ExpectedVersion::Any,
        events: vec![event(n)],
    };
    store.append(vec![one("a", 1)]).await.unwrap();
    store.append(vec![one("b", 1)]).await.unwrap();
    store.append(vec![one("a", 2), one("b", 2)]).await.unwrap();
    store.append(vec![one("a", 3)]).await.unwrap();
    store.append(vec![one("b", 3)]).await.unwrap();
    store.append(vec![one("a", 4)]).await.unwrap();
    (db, store)
}

async fn report(db: &TestDatabase) -> Report {
    verify(&db.pool, |_, _| {}).await.unwrap()
}

fn first(report: &Report) -> (Tampering, String, i64) {
    let f = report.first().expect("tampering found");
    (f.kind, f.stream_id.clone(), f.stream_version)
}

async fn sql(db: &TestDatabase, statement: &str) {
    sqlx::query(statement).execute(&db.pool).await.unwrap();
}

#[tokio::test]
async fn an_untouched_store_verifies() {
    let (db, _) = store().await;
    let r = report(&db).await;
    assert!(r.intact(), "{:?}", r.findings);
    assert_eq!((r.events, r.streams), (7, 2));
    assert_eq!(r.head_hash.len(), 64);
    assert_ne!(r.head_hash, "0".repeat(64));
}

#[tokio::test]
async fn an_edited_payload_is_caught() {
    let (db, _) = store().await;
    sql(&db, "update events set payload = jsonb_set(payload, '{n}', '99') where stream_id = 'a' and stream_version = 2").await;
    assert_eq!(
        first(&report(&db).await),
        (Tampering::Edited, "a".into(), 2)
    );
}

#[tokio::test]
async fn edited_metadata_or_time_is_caught() {
    let (db, _) = store().await;
    sql(&db, "update events set metadata = jsonb_set(metadata, '{actor}', '\"someone else\"') where stream_id = 'b' and stream_version = 3").await;
    assert_eq!(
        first(&report(&db).await),
        (Tampering::Edited, "b".into(), 3)
    );
    let (db, _) = store().await;
    sql(&db, "update events set recorded_at = recorded_at - interval '1 day' where stream_id = 'a' and stream_version = 1").await;
    assert_eq!(
        first(&report(&db).await),
        (Tampering::Edited, "a".into(), 1)
    );
}

#[tokio::test]
async fn a_deleted_event_is_caught() {
    let (db, _) = store().await;
    sql(
        &db,
        "delete from events where stream_id = 'a' and stream_version = 2",
    )
    .await;
    let r = report(&db).await;
    assert_eq!(first(&r), (Tampering::Deleted, "a".into(), 2));
    assert!(
        r.findings.iter().any(|f| f.kind == Tampering::ChainBroken),
        "global chain too"
    );
}

#[tokio::test]
async fn a_deleted_tail_is_caught() {
    let (db, _) = store().await;
    sql(
        &db,
        "delete from events where stream_id = 'b' and stream_version = 3",
    )
    .await;
    assert_eq!(
        first(&report(&db).await),
        (Tampering::Deleted, "b".into(), 3)
    );
}

#[tokio::test]
async fn reordered_events_are_caught() {
    let (db, _) = store().await;
    // Swap versions 1 and 3 of stream a.
    sql(
        &db,
        "update events set stream_version = 1000 where stream_id = 'a' and stream_version = 1",
    )
    .await;
    sql(
        &db,
        "update events set stream_version = 1 where stream_id = 'a' and stream_version = 3",
    )
    .await;
    sql(
        &db,
        "update events set stream_version = 3 where stream_id = 'a' and stream_version = 1000",
    )
    .await;
    let r = report(&db).await;
    assert_eq!(
        first(&r),
        (Tampering::Reordered, "a".into(), 1),
        "{:?}",
        r.findings
    );
}

#[tokio::test]
async fn an_inserted_event_is_caught() {
    let (db, _) = store().await;
    sql(&db, "insert into events (event_id, stream_id, stream_version, event_type, schema_version,
                payload, metadata, recorded_at, hash, global_hash)
              select gen_random_uuid(), 'a', 5, 'TestEvent', 1, '{\"n\": 5}', metadata, now(), hash, global_hash
              from events where stream_id = 'a' and stream_version = 4").await;
    assert_eq!(
        first(&report(&db).await),
        (Tampering::Inserted, "a".into(), 5)
    );
}

#[tokio::test]
async fn a_forged_insert_with_a_bumped_stream_version_is_caught() {
    // The forger also raises the stream's recorded version, but cannot produce a matching hash
    // without recomputing the chain.
    let (db, _) = store().await;
    sql(&db, "update streams set version = 5 where stream_id = 'a'").await;
    sql(&db, "insert into events (event_id, stream_id, stream_version, event_type, schema_version,
                payload, metadata, recorded_at, hash, global_hash)
              select gen_random_uuid(), 'a', 5, 'TestEvent', 1, '{\"n\": 5}', metadata, now(), hash, global_hash
              from events where stream_id = 'a' and stream_version = 4").await;
    let r = report(&db).await;
    assert_eq!(first(&r), (Tampering::Edited, "a".into(), 5));
}

#[tokio::test]
async fn an_event_without_a_hash_is_caught() {
    let (db, _) = store().await;
    sql(
        &db,
        "update events set hash = null where stream_id = 'b' and stream_version = 1",
    )
    .await;
    assert_eq!(
        first(&report(&db).await),
        (Tampering::Unsealed, "b".into(), 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chains_stay_intact_under_concurrent_writers() {
    let db = TestDatabase::create().await;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            // A store each, as eight processes would have: their transactions race for the
            // append lock, and each must chain onto what the one before it committed.
            let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
            tokio::spawn(async move {
                for i in 0..25 {
                    let mut batch = vec![StreamAppend {
                        stream_id: format!("w{w}"),
                        expected: ExpectedVersion::Any,
                        events: vec![event(i), event(i + 100)],
                    }];
                    if i % 4 == 0 {
                        batch.push(StreamAppend {
                            stream_id: "shared".into(),
                            expected: ExpectedVersion::Any,
                            events: vec![event(i)],
                        });
                    }
                    store.append(batch).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let r = report(&db).await;
    assert!(r.intact(), "{:?}", r.findings);
    assert_eq!(r.events, 8 * 25 * 2 + 8 * 7);
}

/// Concurrent appends are committed in groups (several in one transaction, several of them on
/// one stream): every accepted event is stored once at the version its append was told, a
/// conflicting append fails alone with the version the group left, and both hash chains
/// verify afterwards.
#[tokio::test]
async fn grouped_appends_keep_versions_and_both_chains() {
    let db = TestDatabase::create().await;
    let store = Arc::new(PgEventStore::new(db.pool.clone()));
    let mut tasks = Vec::new();
    for n in 0..96_i64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let hot = format!("hot-{}", n % 3);
            let append = |stream: &str, expected| StreamAppend {
                stream_id: stream.into(),
                expected,
                events: vec![event(n), event(n)],
            };
            if n % 8 == 7 {
                // A stale expectation: refused alone, whatever its group.
                store
                    .append(vec![
                        append(&format!("own-{n}"), ExpectedVersion::NoStream),
                        append(&hot, ExpectedVersion::Exact(1)),
                    ])
                    .await
            } else {
                store
                    .append(vec![
                        append(&hot, ExpectedVersion::Any),
                        append(&format!("own-{n}"), ExpectedVersion::NoStream),
                    ])
                    .await
            }
        }));
    }
    let mut accepted = 0;
    let mut hot_versions = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(outcome) => {
                accepted += 1;
                hot_versions.push((n % 3, outcome.version_of(&format!("hot-{}", n % 3))));
                assert!(outcome.last_position.is_some());
            }
            Err(events::StoreError::Conflict {
                stream_id, actual, ..
            }) => {
                assert_eq!(n % 8, 7, "only stale appends conflict");
                assert!(stream_id.starts_with("hot-"));
                assert!(actual > 1, "the conflict names the current version");
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, 96 - 12);
    for hot in 0..3 {
        let stored = store.read_stream(&format!("hot-{hot}"), 1).await.unwrap();
        let mut told: Vec<i64> = hot_versions
            .iter()
            .filter(|(h, _)| *h == hot)
            .filter_map(|(_, v)| *v)
            .collect();
        told.sort_unstable();
        // Each accepted append was told the version its second event reached: 2, 4, 6, ...
        assert_eq!(
            told,
            (1..=told.len() as i64).map(|k| 2 * k).collect::<Vec<_>>()
        );
        assert_eq!(stored.len(), told.len() * 2);
        let versions: Vec<i64> = stored.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (1..=stored.len() as i64).collect::<Vec<_>>());
    }
    let log = store.read_all(0, 10_000).await.unwrap();
    assert_eq!(log.len(), accepted * 4);
    assert!(log
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));
    assert!(report(&db).await.intact(), "both chains verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_batch_lose_no_acknowledged_append() {
    let db = TestDatabase::create().await;
    let store = Arc::new(PgEventStore::new(db.pool.clone()));
    // A crash of the database side, over and over while groups are in flight: every
    // connection the store uses is terminated, whatever it is doing.
    let killer_url = db.url.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killed = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let killer = {
        let (stop, killed) = (stop.clone(), killed.clone());
        tokio::spawn(async move {
            let pool = sqlx::PgPool::connect(&killer_url).await.unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (n,): (i64,) = sqlx::query_as(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity
                     where datname = current_database() and pid <> pg_backend_pid()
                       and backend_type = 'client backend'",
                )
                .fetch_one(&pool)
                .await
                .unwrap();
                killed.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            }
        })
    };
    // Waves of 20 concurrent appends, at least ten, until at least ten connections were
    // killed, whatever the machine's speed.
    let mut acknowledged = Vec::new();
    let mut n = 0_i64;
    for wave in 0..500 {
        let mut tasks = Vec::new();
        for _ in 0..20 {
            n += 1;
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let stream = format!("own-{n}");
                let outcome = store
                    .append(vec![StreamAppend {
                        stream_id: stream.clone(),
                        expected: ExpectedVersion::NoStream,
                        events: vec![event(n), event(n), event(n)],
                    }])
                    .await;
                (stream, outcome.is_ok())
            }));
        }
        for task in tasks {
            let (stream, ok) = task.await.unwrap();
            if ok {
                acknowledged.push(stream);
            }
        }
        if wave >= 10 && killed.load(std::sync::atomic::Ordering::Relaxed) >= 10 {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    killer.await.unwrap();
    assert!(
        killed.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "connections were killed while appending"
    );
    assert!(!acknowledged.is_empty(), "some appends went through");

    // Every acknowledged append is there in full; no append is there in part (an append that
    // failed may still have committed: its answer was lost with the connection).
    let log = store.read_all(0, 1_000_000).await.unwrap();
    let mut per_stream = std::collections::BTreeMap::<String, Vec<i64>>::new();
    for e in &log {
        per_stream
            .entry(e.stream_id.clone())
            .or_default()
            .push(e.stream_version);
    }
    for stream in &acknowledged {
        assert_eq!(
            per_stream.get(stream),
            Some(&vec![1, 2, 3]),
            "{stream} is whole"
        );
    }
    for (stream, versions) in &per_stream {
        assert_eq!(versions, &vec![1, 2, 3], "{stream} is all or nothing");
    }
    assert!(log
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));
    assert!(report(&db).await.intact(), "both chains verify");
}
