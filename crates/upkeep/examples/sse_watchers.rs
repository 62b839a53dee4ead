//! Watch one run's live events with N concurrent Server-Sent Events clients from one
//! light native process: the watchers of `bench/serve.sh` (issue 18, item 9: SSE to 100
//! watchers of one run adds at most 10% to that run's time).
//!
//! ```text
//! sse_watchers HOST:PORT TOKEN RUN_ID N
//! ```
//!
//! Each client sends `GET /api/v1/runs/RUN_ID/events` over plain TCP (HTTP/1.1, the
//! token as `Authorization: Bearer`) and reads the stream to its end (the server ends it
//! after the run's `summary` event). All of them share one thread and one event loop, so
//! what the bench measures is the server's work for a hundred watchers, not the client's:
//! the asyncio client this replaces used about 540 ms of CPU per run on the 2-core bench
//! machine, most of what the watched runs took longer. The process prints its own CPU
//! time (`getrusage`) beside the events each watcher saw, and exits 1 unless every
//! watcher saw the same events, ending with the summary.

use std::time::Instant;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// What one watcher saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Seen {
    /// Events dispatched (those with data), the summary included.
    events: usize,
    /// The sum and the last of their ids: two watchers with equal counts and sums saw
    /// the same sequence unless the server reordered events, which the ids would show.
    id_sum: i64,
    last_id: Option<i64>,
    /// Whether the last event was the summary.
    summary: bool,
    /// Bytes of the event stream (after de-chunking).
    bytes: usize,
}

/// A Server-Sent Events parser, fed the decoded body in pieces of any size.
#[derive(Debug, Default)]
struct Events {
    line: Vec<u8>,
    kind: Vec<u8>,
    id: Option<i64>,
    data: bool,
    seen: Seen,
}

impl Events {
    fn feed(&mut self, bytes: &[u8]) {
        self.seen.bytes += bytes.len();
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
                self.line = line;
                self.line.clear();
            } else {
                self.line.push(byte);
            }
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // An event without data is not dispatched (the SSE processing model).
            if self.data {
                self.seen.events += 1;
                self.seen.summary = self.kind == b"summary";
                if let Some(id) = self.id.take() {
                    self.seen.id_sum += id;
                    self.seen.last_id = Some(id);
                }
            }
            self.kind.clear();
            self.id = None;
            self.data = false;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return, // a comment: the server's keep-alive
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &b""[..]),
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        match field {
            b"event" => value.clone_into(&mut self.kind),
            b"data" => self.data = true,
            b"id" => {
                self.id = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
    }
}

/// HTTP/1.1 chunked transfer coding, decoded as it arrives.
#[derive(Debug)]
enum Chunked {
    /// Reading a chunk-size line.
    Size(Vec<u8>),
    /// This many bytes of chunk data to go.
    Data(usize),
    /// The CRLF after a chunk's data (bytes of it still to skip).
    DataEnd(usize),
    /// The zero-size chunk was read: the body is complete.
    Done,
}

impl Chunked {
    /// Decode `input`, passing the body's bytes to `events`; an error on a malformed size.
    fn feed(&mut self, mut input: &[u8], events: &mut Events) -> Result<(), String> {
        while !input.is_empty() {
            match self {
                Chunked::Size(line) => {
                    let Some(end) = input.iter().position(|&b| b == b'\n') else {
                        line.extend_from_slice(input);
                        return Ok(());
                    };
                    line.extend_from_slice(&input[..end]);
                    input = &input[end + 1..];
                    let text = String::from_utf8_lossy(line);
                    let digits = text.trim().split(';').next().unwrap_or_default();
                    let size = usize::from_str_radix(digits, 16)
                        .map_err(|_| format!("bad chunk size line {text:?}"))?;
                    *self = if size == 0 {
                        Chunked::Done
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    let take = (*left).min(input.len());
                    events.feed(&input[..take]);
                    input = &input[take..];
                    *left -= take;
                    if *left == 0 {
                        *self = Chunked::DataEnd(2);
                    }
                }
                Chunked::DataEnd(left) => {
                    let take = (*left).min(input.len());
                    input = &input[take..];
                    *left -= take;
                    if *left == 0 {
                        *self = Chunked::Size(Vec::new());
                    }
                }
                Chunked::Done => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Where a response is: its head being read, then a chunked body or one that runs to the
/// connection's end.
#[derive(Debug)]
enum Response {
    Head(Vec<u8>),
    Chunked(Chunked),
    Raw,
}

impl Response {
    /// Take `input` as it arrives, passing the body's bytes to `events`; an error on an
    /// answer other than 200 or a malformed chunk.
    fn feed(&mut self, input: &[u8], events: &mut Events) -> Result<(), String> {
        match self {
            Response::Head(head) => {
                head.extend_from_slice(input);
                let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return Ok(());
                };
                let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
                if !text.starts_with("http/1.1 200") {
                    return Err(format!("answered {:?}", text.lines().next()));
                }
                let chunked = text
                    .lines()
                    .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
                let body = head.split_off(end + 4);
                *self = if chunked {
                    Response::Chunked(Chunked::Size(Vec::new()))
                } else {
                    Response::Raw
                };
                self.feed(&body, events)
            }
            Response::Chunked(chunked) => chunked.feed(input, events),
            Response::Raw => {
                events.feed(input);
                Ok(())
            }
        }
    }
}

/// Open one stream of run `run_id` and read it to its end.
async fn watch(addr: &str, token: &str, run_id: &str) -> Result<Seen, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let request = format!(
        "GET /api/v1/runs/{run_id}/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send the request: {e}"))?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut response = Response::Head(Vec::new());
    let mut events = Events::default();
    loop {
        let read = stream
            .read(&mut buffer)
            .await
            .map_err(|e| format!("read the stream: {e}"))?;
        if read == 0 {
            break;
        }
        response.feed(&buffer[..read], &mut events)?;
        if matches!(response, Response::Chunked(Chunked::Done)) {
            break;
        }
    }
    Ok(events.seen)
}

/// This process's CPU time so far, user and system, in milliseconds.
fn cpu_ms() -> (f64, f64) {
    use nix::sys::resource::{UsageWho, getrusage};
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return (f64::NAN, f64::NAN);
    };
    #[expect(
        clippy::cast_precision_loss,
        reason = "seconds and microseconds of a short process are far below 2^52"
    )]
    let ms = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1000.0 + t.tv_usec() as f64 / 1000.0;
    (ms(usage.user_time()), ms(usage.system_time()))
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, token, run_id, n] = args.as_slice() else {
        eprintln!("usage: sse_watchers HOST:PORT TOKEN RUN_ID N");
        return std::process::ExitCode::from(2);
    };
    let Ok(n) = n.parse::<usize>() else {
        eprintln!("N must be a number, not {n:?}");
        return std::process::ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("start the event loop: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let began = Instant::now();
    let results: Vec<Result<Seen, String>> = runtime.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (addr, token, run_id) = (addr.clone(), token.clone(), run_id.clone());
                tokio::spawn(async move { watch(&addr, &token, &run_id).await })
            })
            .collect();
        let mut results = Vec::with_capacity(n);
        for task in tasks {
            results.push(task.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        results
    });
    let wall = began.elapsed();
    let (user, system) = cpu_ms();
    report(&results, n, wall, user, system)
}

/// Print the line `bench/serve.sh` keeps, and fail unless every watcher saw the same
/// events ending with the summary.
fn report(
    results: &[Result<Seen, String>],
    n: usize,
    wall: std::time::Duration,
    user: f64,
    system: f64,
) -> std::process::ExitCode {
    let mut counts: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|s| s.events))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    let ended = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|s| s.summary))
        .count();
    let bytes = results
        .iter()
        .find_map(|r| r.as_ref().ok().map(|s| s.bytes))
        .unwrap_or(0);
    println!(
        "{ended}/{n} watchers saw the summary; events each: {counts:?}; stream bytes each: {bytes}; \
         the watchers' own CPU: {:.0} ms (user {user:.0}, system {system:.0}) over {:.0} ms",
        user + system,
        wall.as_secs_f64() * 1000.0
    );
    let first = results.first().and_then(|r| r.as_ref().ok());
    let mut failed = ended != n;
    for (i, result) in results.iter().enumerate() {
        match result {
            Err(e) => {
                eprintln!("watcher {i}: {e}");
                failed = true;
            }
            Ok(seen) if Some(seen) != first => {
                eprintln!("watcher {i} saw {seen:?}, watcher 0 saw {first:?}");
                failed = true;
            }
            Ok(_) => {}
        }
    }
    if failed {
        eprintln!("FAIL: the watchers did not all see the same events ending with the summary");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
