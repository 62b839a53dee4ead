//! Streamed output: both pipes of a module read concurrently, line by line, into its log
//! and the caller's [`LineSink`], so a child filling one pipe never deadlocks against the
//! other.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::invocation::{LineSink, Stream};

/// Read both pipes concurrently into the log and the sink.
pub(super) fn spawn_readers(
    child: &mut tokio::process::Child,
    sink: &LineSink,
    log: &fs_err::File,
) -> tokio::task::JoinHandle<()> {
    let out = child
        .stdout
        .take()
        .map(|s| copy_lines(s, Stream::Stdout, sink.clone(), log.try_clone().ok()));
    let err = child
        .stderr
        .take()
        .map(|s| copy_lines(s, Stream::Stderr, sink.clone(), log.try_clone().ok()));
    tokio::spawn(async move {
        tokio::join!(
            async {
                if let Some(o) = out {
                    o.await;
                }
            },
            async {
                if let Some(e) = err {
                    e.await;
                }
            }
        );
    })
}

async fn copy_lines<R: AsyncRead + Unpin>(
    stream: R,
    which: Stream,
    sink: LineSink,
    mut log: Option<fs_err::File>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(log) = log.as_mut() {
            let _ = writeln!(log, "{line}");
        }
        sink(which, &line);
    }
}
