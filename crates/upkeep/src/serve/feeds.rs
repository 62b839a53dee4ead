//! The live event feeds of runs: one reader of the ledger per watched run, however many
//! clients watch it.
//!
//! A run's feed keeps every event read so far in order (then the run's summary once it
//! has finished), and a `watch` channel says how many there are. Each client's stream
//! starts after its `Last-Event-ID` in that log and follows the channel, so a hundred
//! dashboards open on one run cost one ledger read per [`POLL`], not a hundred (issue 18:
//! watchers may add at most 10% to the run's time). The reader stops once the run has
//! finished and its summary is in the log, or when nobody watches any more; the log goes
//! with its last watcher.
//!
//! Events are encoded once, by the reader, into the bytes every client sends: each look
//! at the ledger becomes one buffer of Server-Sent Events text, and each event a slice of
//! it. A client that follows the feed sends that buffer whole (one body frame for what a
//! look found, shared by reference); only a client resuming in the middle of one sends
//! its events one by one. A client's work per event is thus a reference count, not an
//! encoding and a copy of its own.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::body::Bytes;

use super::App;
use super::api::blocking;

/// How often a watched run's feed looks at the ledger for its new events.
const POLL: Duration = Duration::from_millis(100);
/// How often while more than [`CROWD`] clients watch it: each look is a write to every
/// client and a read by each, and a hundred watchers at ten looks a second cost a run of
/// 1,000 modules 11% of its time on two cores; four looks a second is still live to a
/// person watching.
const POLL_CROWDED: Duration = Duration::from_millis(250);
/// Watchers above which a feed looks at [`POLL_CROWDED`].
const CROWD: usize = 10;

/// One item of a feed: a ledger event (with its sequence number) or the summary, as the
/// Server-Sent Events text a client is sent.
#[derive(Debug)]
struct Item {
    seq: Option<i64>,
    bytes: Bytes,
}

/// What one look at the ledger found, encoded once: the items' text back to back.
#[derive(Debug)]
struct Batch {
    /// The index of its first item in the log.
    from: usize,
    /// The index after its last.
    to: usize,
    bytes: Bytes,
}

/// Encode `events` (sequence number, kind, JSON data) as Server-Sent Events, as axum's
/// `Event` writes them (`event`, `data`, `id`, a blank line), into one buffer: the batch
/// and each event's item, a slice of it.
fn encode(from: usize, events: &[(Option<i64>, &str, String)]) -> (Batch, Vec<Item>) {
    let mut text = String::with_capacity(
        events
            .iter()
            .map(|(_, kind, data)| kind.len() + data.len() + 40)
            .sum(),
    );
    let mut ends = Vec::with_capacity(events.len());
    for (seq, kind, data) in events {
        // One line each: kinds are the ledger's own names, and compact JSON escapes every
        // line break inside its strings.
        debug_assert!(!kind.contains(['\r', '\n']) && !data.contains(['\r', '\n']));
        text.push_str("event: ");
        text.push_str(kind);
        text.push_str("\ndata: ");
        text.push_str(data);
        text.push('\n');
        if let Some(seq) = seq {
            let _ = writeln!(text, "id: {seq}");
        }
        text.push('\n');
        ends.push((*seq, text.len()));
    }
    let bytes = Bytes::from(text);
    let mut start = 0;
    let items = ends
        .into_iter()
        .map(|(seq, end)| {
            let item = Item {
                seq,
                bytes: bytes.slice(start..end),
            };
            start = end;
            item
        })
        .collect::<Vec<_>>();
    let batch = Batch {
        from,
        to: from + items.len(),
        bytes,
    };
    (batch, items)
}

#[derive(Debug, Default)]
struct Log {
    items: Vec<Item>,
    /// The reader's looks that found something, in order; their items are `items`.
    batches: Vec<Batch>,
    /// Nothing more will come: the summary is in, or the reader gave up (a client then
    /// reconnects with its `Last-Event-ID`).
    done: bool,
    /// Whether the run exists, once the reader's first look at the ledger said.
    exists: Option<bool>,
}

#[derive(Debug)]
struct Feed {
    log: Mutex<Log>,
    /// The number of items, sent on every growth.
    grown: tokio::sync::watch::Sender<usize>,
}

impl Feed {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Append what the reader found (the run exists, then), and wake the clients.
    fn publish(&self, events: &[(Option<i64>, &str, String)], finished: bool) {
        let (changed, len) = {
            let mut log = self.log();
            let changed = !events.is_empty() || finished || log.exists.is_none();
            if !events.is_empty() {
                let (batch, items) = encode(log.items.len(), events);
                log.items.extend(items);
                log.batches.push(batch);
            }
            log.done = finished;
            log.exists = Some(true);
            (changed, log.items.len())
        };
        if changed {
            self.grown.send_replace(len);
        }
    }
}

/// The feeds of the runs being watched.
#[derive(Debug, Default)]
pub(crate) struct Feeds {
    runs: Mutex<HashMap<i64, Weak<Feed>>>,
}

impl Feeds {
    /// The feed of run `id` with a subscription to its growth, starting its reader when
    /// nobody watched it.
    fn join(&self, app: &Arc<App>, id: i64) -> (Arc<Feed>, tokio::sync::watch::Receiver<usize>) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.retain(|_, feed| feed.strong_count() > 0);
        if let Some(feed) = runs.get(&id).and_then(Weak::upgrade) {
            let subscription = feed.grown.subscribe();
            return (feed, subscription);
        }
        let feed = Arc::new(Feed {
            log: Mutex::new(Log::default()),
            grown: tokio::sync::watch::channel(0).0,
        });
        let subscription = feed.grown.subscribe();
        runs.insert(id, Arc::downgrade(&feed));
        tokio::spawn(read(Arc::clone(app), id, Arc::clone(&feed)));
        (feed, subscription)
    }

    /// Whether the reader of `feed` may stop because nobody watches: decided under the
    /// map's lock, so that a client joining meanwhile either is counted or starts a new
    /// reader on a new feed.
    fn leave_if_unwatched(&self, id: i64, feed: &Arc<Feed>) -> bool {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if feed.grown.receiver_count() > 0 {
            return false;
        }
        if runs
            .get(&id)
            .is_some_and(|known| std::ptr::eq(known.as_ptr(), Arc::as_ptr(feed)))
        {
            runs.remove(&id);
        }
        true
    }
}

/// The reader of run `id`'s feed: every event after the last one read, each [`POLL`], then
/// the summary once the run has finished.
async fn read(app: Arc<App>, id: i64, feed: Arc<Feed>) {
    let mut stopping = app.stopping.subscribe();
    let mut after = 0;
    loop {
        let from = after;
        let read = blocking(&app, move |ops| {
            Ok(upkeep_core::ops::query::run_events(ops, id, from)?)
        })
        .await;
        let (rows, finished) = match read {
            Ok(Some(found)) => found,
            Ok(None) => {
                feed.log().exists = Some(false);
                break;
            }
            Err(_) => break,
        };
        if let Some(last) = rows.last() {
            after = last.seq;
        }
        let events = events_of(&app, id, &rows, finished).await;
        feed.publish(&events, finished);
        if finished || app.feeds.leave_if_unwatched(id, &feed) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(interval(&feed)) => {}
            _ = stopping.wait_for(|stop| *stop) => break,
        }
    }
    feed.log().done = true;
    let len = feed.log().items.len();
    feed.grown.send_replace(len);
}

/// How long a feed waits before its next look at the ledger.
fn interval(feed: &Feed) -> Duration {
    if feed.grown.receiver_count() > CROWD {
        POLL_CROWDED
    } else {
        POLL
    }
}

/// The feed's events for `rows` (sequence number, kind, JSON data), then the run's
/// summary when it has `finished`.
async fn events_of<'a>(
    app: &Arc<App>,
    id: i64,
    rows: &'a [upkeep_core::state::run_events::RunEventRow],
    finished: bool,
) -> Vec<(Option<i64>, &'a str, String)> {
    let mut events: Vec<_> = rows
        .iter()
        .filter_map(|row| {
            Some((
                Some(row.seq),
                row.kind.as_str(),
                serde_json::to_string(row).ok()?,
            ))
        })
        .collect();
    if finished {
        let summary = blocking(app, move |ops| Ok(upkeep_core::ops::query::run(ops, id)?)).await;
        if let Ok(Some(run)) = summary
            && let Ok(data) = serde_json::to_string(&run)
        {
            events.push((None, "summary", data));
        }
    }
    events
}

/// A client's place at run `id`'s feed, once the feed's reader found the run.
pub(crate) struct Subscription {
    feed: Arc<Feed>,
    grown: tokio::sync::watch::Receiver<usize>,
}

/// Join run `id`'s feed: `Ok(None)` when the ledger has no such run, an error when the
/// reader could not tell. Clients joining a feed already read wait for nothing, so a
/// hundred streams opened on one run cost one ledger read, not one each.
pub(crate) async fn subscribe(app: &Arc<App>, id: i64) -> Result<Option<Subscription>, ()> {
    let (feed, mut grown) = app.feeds.join(app, id);
    loop {
        let (exists, done) = {
            let log = feed.log();
            (log.exists, log.done)
        };
        match exists {
            Some(true) => return Ok(Some(Subscription { feed, grown })),
            Some(false) => return Ok(None),
            None if done => return Err(()),
            None => {
                if grown.changed().await.is_err() {
                    return Err(());
                }
            }
        }
    }
}

/// How long a quiet stream waits before it sends a comment, so that proxies and clients
/// keep the connection (axum's `KeepAlive` default).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A client's stream of a subscribed run's feed: the events after `after`, until the run
/// has finished (then its summary), or the server stops. It ends when the client goes
/// (the server drops the body).
pub(crate) fn stream(
    app: &Arc<App>,
    at: Subscription,
    after: i64,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + use<> {
    let follow = Follow {
        feed: at.feed,
        grown: at.grown,
        stopping: app.stopping.subscribe(),
        next: 0,
        after,
        pending: VecDeque::new(),
        done: false,
    };
    futures_util::stream::unfold(follow, |mut follow| async move {
        let bytes = follow.next_bytes().await?;
        Some((Ok(bytes), follow))
    })
}

/// Where one client's stream is in its feed.
struct Follow {
    feed: Arc<Feed>,
    grown: tokio::sync::watch::Receiver<usize>,
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The index of the first item not yet taken from the log.
    next: usize,
    /// The client's `Last-Event-ID`: events up to it are not sent.
    after: i64,
    /// Taken from the log, not yet sent.
    pending: VecDeque<Bytes>,
    /// The log said nothing more will come.
    done: bool,
}

impl Follow {
    /// The next bytes to send, waiting for the feed to grow; `None` at the stream's end.
    async fn next_bytes(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.pending.pop_front() {
                return Some(bytes);
            }
            if self.done {
                return None;
            }
            self.take();
            if !self.pending.is_empty() || self.done {
                continue;
            }
            tokio::select! {
                changed = self.grown.changed() => if changed.is_err() { return None },
                () = tokio::time::sleep(KEEP_ALIVE) => self.pending.push_back(Bytes::from_static(b":\n\n")),
                _ = self.stopping.wait_for(|stop| *stop) => return None,
            }
        }
    }

    /// Move what the log holds beyond `next` to `pending`: a whole batch when every event
    /// in it is after `after` (items are in sequence order, the summary last), else its
    /// items one by one, skipping those up to `after`.
    fn take(&mut self) {
        let log = self.feed.log();
        while self.next < log.items.len() {
            let first = &log.items[self.next];
            let whole = first.seq.is_none_or(|seq| seq > self.after);
            let batch = log
                .batches
                .binary_search_by_key(&self.next, |b| b.from)
                .ok()
                .map(|at| &log.batches[at]);
            if let (true, Some(batch)) = (whole, batch) {
                self.pending.push_back(batch.bytes.clone());
                self.next = batch.to;
                continue;
            }
            if first.seq.is_none_or(|seq| seq > self.after) {
                self.pending.push_back(first.bytes.clone());
            }
            self.next += 1;
        }
        self.done = log.done;
    }
}
