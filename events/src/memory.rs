//! In-memory event store for unit tests. Same contract as PostgreSQL, no persistence.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;

use crate::envelope::{AppendOutcome, RecordedEvent, StreamAppend};
use crate::store::{check_distinct, version_matches, EventStore, Snapshot, StoreError};

/// An event store held in a mutex; appends are serialized, so the log is trivially ordered.
#[derive(Debug, Default)]
pub struct MemoryEventStore {
    inner: Mutex<Inner>,
    appended: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    log: Vec<RecordedEvent>,
    versions: HashMap<String, i64>,
    snapshots: HashMap<String, Snapshot>,
}

impl MemoryEventStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied append (appends validate
        // before mutating), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    fn appended(&self) -> Option<crate::AppendSignal> {
        Some(self.appended.subscribe())
    }

    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError> {
        check_distinct(&appends)?;
        let mut inner = self.lock();
        for append in &appends {
            let actual = inner.versions.get(&append.stream_id).copied().unwrap_or(0);
            if !version_matches(append.expected, actual) {
                return Err(StoreError::Conflict {
                    stream_id: append.stream_id.clone(),
                    expected: append.expected,
                    actual,
                });
            }
        }
        if let Some(dup) = appends
            .iter()
            .flat_map(|a| &a.events)
            .find(|e| inner.log.iter().any(|r| r.event_id == e.event_id))
        {
            return Err(StoreError::InvalidAppend(format!(
                "event id {} already stored",
                dup.event_id
            )));
        }
        let now = Utc::now();
        let mut versions = Vec::with_capacity(appends.len());
        let mut last_position = None;
        for append in appends {
            let mut version = inner.versions.get(&append.stream_id).copied().unwrap_or(0);
            for event in append.events {
                version += 1;
                let position = inner.log.len() as i64 + 1;
                inner.log.push(RecordedEvent {
                    event_id: event.event_id,
                    stream_id: append.stream_id.clone(),
                    stream_version: version,
                    global_position: position,
                    event_type: event.event_type,
                    schema_version: event.schema_version,
                    payload: event.payload,
                    metadata: event.metadata,
                    recorded_at: now,
                });
                last_position = Some(position);
            }
            if version > 0 {
                inner.versions.insert(append.stream_id.clone(), version);
            }
            versions.push((append.stream_id, version));
        }
        drop(inner);
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
        Ok(AppendOutcome {
            versions,
            last_position,
        })
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(self
            .lock()
            .log
            .iter()
            .filter(|e| e.stream_id == stream_id && e.stream_version >= from_version)
            .cloned()
            .map(crate::upcast::upcast)
            .collect())
    }

    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let inner = self.lock();
        let start = usize::try_from(after.max(0)).unwrap_or(usize::MAX);
        Ok(inner
            .log
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .map(crate::upcast::upcast)
            .collect())
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        Ok(self.lock().log.len() as i64)
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.lock().snapshots.get(stream_id).cloned())
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let kept = inner.snapshots.get(&snapshot.stream_id);
        if kept.is_none_or(|k| k.format != snapshot.format || k.version < snapshot.version) {
            inner.snapshots.insert(snapshot.stream_id.clone(), snapshot);
        }
        Ok(())
    }
}
