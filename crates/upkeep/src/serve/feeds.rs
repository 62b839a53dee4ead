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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use axum::response::sse::Event;
use tokio::sync::mpsc::Sender;

use super::App;
use super::api::blocking;

/// How often a watched run's feed looks at the ledger for its new events.
const POLL: Duration = Duration::from_millis(100);

/// One item of a feed: a ledger event (with its sequence number) or the summary.
#[derive(Debug)]
struct Item {
    seq: Option<i64>,
    kind: String,
    data: String,
}

impl Item {
    fn event(&self) -> Event {
        let event = Event::default().event(&self.kind).data(&self.data);
        match self.seq {
            Some(seq) => event.id(seq.to_string()),
            None => event,
        }
    }
}

#[derive(Debug, Default)]
struct Log {
    items: Vec<Arc<Item>>,
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
    fn publish(&self, items: Vec<Arc<Item>>, finished: bool) {
        let (changed, len) = {
            let mut log = self.log();
            let changed = !items.is_empty() || finished || log.exists.is_none();
            log.items.extend(items);
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
        let items = items_of(&app, id, &rows, finished).await;
        feed.publish(items, finished);
        if finished || app.feeds.leave_if_unwatched(id, &feed) {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = stopping.wait_for(|stop| *stop) => break,
        }
    }
    feed.log().done = true;
    let len = feed.log().items.len();
    feed.grown.send_replace(len);
}

/// The feed's items for `rows`, then the run's summary when it has `finished`.
async fn items_of(
    app: &Arc<App>,
    id: i64,
    rows: &[upkeep_core::state::run_events::RunEventRow],
    finished: bool,
) -> Vec<Arc<Item>> {
    let mut items: Vec<Arc<Item>> = rows
        .iter()
        .filter_map(|row| {
            Some(Arc::new(Item {
                seq: Some(row.seq),
                kind: row.kind.clone(),
                data: serde_json::to_string(row).ok()?,
            }))
        })
        .collect();
    if finished {
        let summary = blocking(app, move |ops| Ok(upkeep_core::ops::query::run(ops, id)?)).await;
        if let Ok(Some(run)) = summary
            && let Ok(data) = serde_json::to_string(&run)
        {
            items.push(Arc::new(Item {
                seq: None,
                kind: "summary".to_owned(),
                data,
            }));
        }
    }
    items
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

/// Send the events after `after` of a subscribed run's feed to `sender`, until the run
/// has finished (then its summary), the client has gone, or the server stops.
pub(crate) async fn watch(app: Arc<App>, at: Subscription, after: i64, sender: Sender<Event>) {
    let Subscription { feed, mut grown } = at;
    let mut stopping = app.stopping.subscribe();
    let mut next = 0;
    loop {
        let (items, done) = {
            let log = feed.log();
            (log.items[next..].to_vec(), log.done)
        };
        for item in items {
            next += 1;
            // Items are in sequence order with the summary (no sequence) last: a client
            // resumes strictly after its `Last-Event-ID`.
            if item.seq.is_some_and(|seq| seq <= after) {
                continue;
            }
            if sender.send(item.event()).await.is_err() {
                return;
            }
        }
        if done {
            return;
        }
        tokio::select! {
            changed = grown.changed() => if changed.is_err() { return },
            () = sender.closed() => return,
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}
