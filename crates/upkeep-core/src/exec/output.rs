//! Streamed output: both pipes of a module read concurrently, line by line, into its log
//! and the caller's [`LineSink`], so a child filling one pipe never deadlocks against the
//! other.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

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

/// Copy `stream` to the log and the sink a line at a time. A line is bytes, not text: one
/// that is not UTF-8 reaches the sink with replacement characters and the log as it was
/// written, and reading goes on (a reader that stopped would leave the process blocked on
/// a full pipe). A line longer than [`MAX_LINE`] is handed on in pieces, so a process that
/// never prints a newline cannot make upkeep hold its whole output in memory.
async fn copy_lines<R: AsyncRead + Unpin>(
    stream: R,
    which: Stream,
    sink: LineSink,
    mut log: Option<fs_err::File>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(log) = log.as_mut() {
            let _ = log.write_all(&line);
            if line.last() != Some(&b'\n') {
                let _ = log.write_all(b"\n");
            }
        }
        let text = String::from_utf8_lossy(&line);
        sink(which, text.strip_suffix('\n').unwrap_or(&text));
    }
}

/// The longest line handed on in one piece.
const MAX_LINE: u64 = 64 * 1024;
