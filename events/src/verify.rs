//! `commerce verify`: walks the whole PostgreSQL store and recomputes its hash chains.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::PgPool;

use crate::chain::{self, Hash, GENESIS};
use crate::envelope::Metadata;

/// What kind of tampering a finding shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tampering {
    /// The event's content no longer matches its hash.
    Edited,
    /// An event is missing from its stream.
    Deleted,
    /// An event exists that its stream never recorded.
    Inserted,
    /// An event appears out of its stream's order.
    Reordered,
    /// The global chain breaks here: an event before this position was removed, added, moved
    /// or re-hashed.
    ChainBroken,
    /// The event has no hash.
    Unsealed,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Kind of tampering.
    pub kind: Tampering,
    /// The affected stream.
    pub stream_id: String,
    /// The affected version of that stream.
    pub stream_version: i64,
    /// Position in the log where it showed, when there is one.
    pub global_position: Option<i64>,
    /// In words.
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Events checked.
    pub events: u64,
    /// Streams checked.
    pub streams: u64,
    /// Position of the newest event.
    pub head_position: i64,
    /// The global chain's head: record it elsewhere to detect a wholesale rewrite later.
    pub head_hash: String,
    /// Everything found, in log order (at most [`MAX_FINDINGS`]).
    pub findings: Vec<Finding>,
}

/// Findings kept in a report.
pub const MAX_FINDINGS: usize = 100;

impl Report {
    /// True when nothing was found.
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }

    /// The first broken stream and version: the earliest finding that names an event of a
    /// stream precisely, else the first break of the global chain.
    pub fn first(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.kind != Tampering::ChainBroken)
            .or_else(|| self.findings.first())
    }
}

/// A stored event with its chain links, exactly as in the table (no upcasting).
#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    event: crate::postgres::EventRow,
    hash: Option<Vec<u8>>,
    global_hash: Option<Vec<u8>>,
}

struct Walk {
    findings: Vec<Finding>,
    dropped: u64,
}

impl Walk {
    fn add(
        &mut self,
        kind: Tampering,
        stream: &str,
        version: i64,
        position: Option<i64>,
        detail: String,
    ) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(Finding {
                kind,
                stream_id: stream.to_owned(),
                stream_version: version,
                global_position: position,
                detail,
            });
        } else {
            self.dropped += 1;
        }
    }
}

/// Verifies every event. `progress` is called after each batch with (events done, total).
pub async fn verify(
    pool: &PgPool,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, sqlx::Error> {
    let recorded: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("select stream_id, version from streams")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let (total,): (i64,) = sqlx::query_as("select count(*) from events")
        .fetch_one(pool)
        .await?;

    let mut walk = Walk {
        findings: Vec::new(),
        dropped: 0,
    };
    let mut streams: HashMap<String, (i64, Hash)> = HashMap::new();
    let mut global = GENESIS;
    let mut after = 0_i64;
    let mut events = 0_u64;
    loop {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{}, hash, global_hash from events
             where global_position > $1 order by global_position limit 5000",
            crate::postgres::SELECT_EVENTS.trim_end_matches(" from events")
        ))
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.event.global_position;
        for row in rows {
            events += 1;
            check(pool, &recorded, &mut streams, &mut global, &mut walk, row).await?;
        }
        progress(events, total as u64);
    }

    // Streams whose recorded version is ahead of their last event lost their tail.
    let mut tails: Vec<(&String, &i64)> = recorded.iter().collect();
    tails.sort();
    for (stream, version) in tails {
        let last = streams.get(stream).map_or(0, |(v, _)| *v);
        if *version > last {
            walk.add(
                Tampering::Deleted,
                stream,
                last + 1,
                None,
                format!("the stream is recorded at version {version} but its events end at {last}"),
            );
        }
    }
    if walk.dropped > 0 {
        tracing::warn!(more = walk.dropped, "further findings not listed");
    }
    Ok(Report {
        events,
        streams: streams.len() as u64,
        head_position: after,
        head_hash: chain::hex(&global),
        findings: walk.findings,
    })
}

async fn check(
    pool: &PgPool,
    recorded: &HashMap<String, i64>,
    streams: &mut HashMap<String, (i64, Hash)>,
    global: &mut Hash,
    walk: &mut Walk,
    row: Row,
) -> Result<(), sqlx::Error> {
    let Row {
        event: row,
        hash,
        global_hash,
    } = row;
    let position = Some(row.global_position);
    let (Some(stored), Some(stored_global)) = (
        hash.as_deref().and_then(|h| <Hash>::try_from(h).ok()),
        global_hash
            .as_deref()
            .and_then(|h| <Hash>::try_from(h).ok()),
    ) else {
        walk.add(
            Tampering::Unsealed,
            &row.stream_id,
            row.stream_version,
            position,
            "the event has no hash".into(),
        );
        return Ok(());
    };

    let (last_version, last_hash) = streams.get(&row.stream_id).copied().unwrap_or((0, GENESIS));
    let mut in_order = false;
    if row.stream_version == last_version + 1 {
        in_order = true;
    } else if row.stream_version > last_version + 1 {
        // Is the missing version somewhere later in the log (moved), or gone?
        let missing = last_version + 1;
        let later: Option<(i64,)> = sqlx::query_as(
            "select global_position from events where stream_id = $1 and stream_version = $2",
        )
        .bind(&row.stream_id)
        .bind(missing)
        .fetch_optional(pool)
        .await?;
        match later {
            Some((at,)) => walk.add(
                Tampering::Reordered,
                &row.stream_id,
                missing,
                Some(at),
                format!(
                    "version {missing} comes after version {} in the log",
                    row.stream_version
                ),
            ),
            None => walk.add(
                Tampering::Deleted,
                &row.stream_id,
                missing,
                position,
                format!("versions {missing}..{} are missing", row.stream_version - 1),
            ),
        }
    } else if !walk.findings.iter().any(|f| {
        f.kind == Tampering::Reordered
            && f.stream_id == row.stream_id
            && f.stream_version == row.stream_version
    }) {
        walk.add(
            Tampering::Reordered,
            &row.stream_id,
            row.stream_version,
            position,
            format!(
                "version {} comes after version {last_version}",
                row.stream_version
            ),
        );
    }

    if row.stream_version > recorded.get(&row.stream_id).copied().unwrap_or(0) {
        walk.add(
            Tampering::Inserted,
            &row.stream_id,
            row.stream_version,
            position,
            "the stream never recorded this version".into(),
        );
    } else if in_order {
        let metadata: Metadata = serde_json::from_value(row.metadata).unwrap_or_default();
        let expected = chain::link(
            &last_hash,
            &chain::canonical(&chain::Sealed {
                event_id: row.event_id,
                stream_id: &row.stream_id,
                stream_version: row.stream_version,
                event_type: &row.event_type,
                schema_version: row.schema_version,
                payload: &row.payload,
                metadata: &metadata,
                recorded_at: row.recorded_at,
            }),
        );
        if expected != stored {
            walk.add(
                Tampering::Edited,
                &row.stream_id,
                row.stream_version,
                position,
                "the content does not match its hash".into(),
            );
        }
    }

    let expected_global = chain::link(global, &stored);
    if expected_global != stored_global {
        walk.add(
            Tampering::ChainBroken,
            &row.stream_id,
            row.stream_version,
            position,
            "the global chain breaks before this event".into(),
        );
    }
    // Continue from what is stored, so one problem is reported once, not at every later event.
    *global = stored_global;
    if row.stream_version > last_version {
        streams.insert(row.stream_id, (row.stream_version, stored));
    }
    Ok(())
}
