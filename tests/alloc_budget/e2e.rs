//! Allocations per request through the whole gateway, over real sockets.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use piigate::config::{self, Env};
use piigate::proxy::Gateway;
use stats_alloc::{Region, StatsAlloc};

use crate::support;

/// Requests before counting (connections, pools, caches and buffers reach their steady size).
const WARM_UP: usize = 500;
/// Requests counted.
const COUNTED: usize = 2_000;

/// Allocations per request the gateway may make: what it makes today plus one for the odd
/// amortised growth (a slab chunk, a channel block), so a change that adds one fails here.
/// On the shell's path no header map is built for the upstream response: its fields stay the
/// bytes they arrived in and the request id is written with the head (two allocations fewer
/// than with a map, on every route), and none for the request either on a route that reads no
/// field (its fields go upstream as they arrived: two fewer again); the streamed body's deadline
/// timer is allocated only when the body keeps the upstream connection waiting, which a body
/// sent with its head does not. A policed request's working buffers (a value being sealed or
/// normalised, a replacement) are its worker's, kept between requests and wiped: three fewer.
/// On a route that reads only the body's type (the typical policy's), a plain request's fields
/// stay as they arrived too and its body is read by that type: no map, two fewer.
struct Budget {
    shell_1k: f64,
    shell_16k: f64,
    policy_1k: f64,
    policy_16k: f64,
    policy_person_16k: f64,
}

const BUDGET: Budget = Budget {
    shell_1k: 2.0,
    shell_16k: 2.0,
    policy_1k: 4.0,
    policy_16k: 7.0,
    policy_person_16k: 7.0,
};

struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// The response every upstream exchange gets, with the `Connection: keep-alive` nginx and
/// most servers send (a hop-by-hop header the gateway strips from every response).
const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: keep-alive\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";

/// Length of the first complete HTTP/1.1 message (head + `content-length` body) in `buf`.
fn message_len(buf: &[u8]) -> Option<usize> {
    let head_end = memchr::memmem::find(buf, b"\r\n\r\n")? + 4;
    let mut len = 0;
    for line in buf[..head_end].split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = line.iter().position(|b| *b == b':')
            && line[..colon].eq_ignore_ascii_case(b"content-length")
        {
            len = line[colon + 1..]
                .trim_ascii()
                .iter()
                .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        }
    }
    (buf.len() >= head_end + len).then_some(head_end + len)
}

/// Reads one message from `s` into `buf` (which may hold the start of it) and consumes it
/// (what follows it moves to the front); whether it started with `start`.
fn read_message(
    s: &mut TcpStream,
    buf: &mut [u8],
    filled: &mut usize,
    start: &[u8],
) -> Option<bool> {
    loop {
        if let Some(n) = message_len(&buf[..*filled]) {
            let matched = buf.starts_with(start);
            buf.copy_within(n..*filled, 0);
            *filled -= n;
            return Some(matched);
        }
        let n = s.read(&mut buf[*filled..]).ok()?;
        if n == 0 {
            return None;
        }
        *filled += n;
    }
}

/// An upstream answering every request with [`ANSWER`]; a thread and a buffer per connection,
/// nothing per request.
fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let _ = s.set_nodelay(true);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                let mut filled = 0;
                while read_message(&mut s, &mut buf, &mut filled, b"POST ").is_some() {
                    if s.write_all(ANSWER).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A keep-alive client sending `request` again and again, reading each answer.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
}

impl Client {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            buf: vec![0u8; 1 << 16],
            filled: 0,
        }
    }

    fn exchange(&mut self, request: &[u8]) {
        self.stream.write_all(request).expect("send");
        let ok = read_message(
            &mut self.stream,
            &mut self.buf,
            &mut self.filled,
            b"HTTP/1.1 200",
        )
        .expect("an answer");
        assert!(ok, "the gateway answered with another status than 200");
    }
}

/// A POST of `body` to `path`, as bytes on the wire.
fn request(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Allocations per exchange of `request` with `addr`, after a warm-up.
fn per_request(
    alloc: &'static StatsAlloc<std::alloc::System>,
    addr: SocketAddr,
    request: &[u8],
) -> f64 {
    let mut client = Client::connect(addr);
    for _ in 0..WARM_UP {
        client.exchange(request);
    }
    let region = Region::new(alloc);
    for _ in 0..COUNTED {
        client.exchange(request);
    }
    let stats = region.change();
    (stats.allocations + stats.reallocations) as f64 / COUNTED as f64
}

/// The gateway config: `/shell` has no rules, `/policy` the typical policy of the load script.
fn config(dir: &std::path::Path, upstream: SocketAddr) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
[keys]
file = "keys.toml"
[state]
dir = "{dir}"
[limits]
max_body_bytes = 16777216

[[routes]]
name = "shell"
path_prefix = "/shell"
upstream = "http://{upstream}"

[[routes]]
name = "policy"
path_prefix = "/policy"
upstream = "http://{upstream}"

[[routes.rules]]
select = ["$.userId", "$.batch[*].userId"]
action = "tokenize"

[[routes.rules]]
select = "$..email"
action = "tokenize"
normalize = "email"

[[routes.rules]]
select = ["$.traits.phone", "$.batch[*].traits.phone"]
action = "encrypt"

[[routes.rules]]
select = ["$.traits.name", "$.batch[*].traits.name"]
action = "mask"

[[routes.rules]]
select = ["$.context.ip", "$.batch[*].context.ip"]
action = "drop"

[[routes.rules]]
select = ["$.traits.address", "$.batch[*].traits.address"]
action = "redact"
"#,
        dir = dir.display()
    )
}

/// Starts a gateway on its own thread and current-thread runtime (as a `per_core` worker).
fn gateway(dir: &std::path::Path, upstream: SocketAddr) -> SocketAddr {
    std::fs::write(dir.join("keys.toml"), include_str!("../../keys.example")).expect("write keys");
    let path = dir.join("proxy.toml");
    std::fs::write(&path, config(dir, upstream)).expect("write config");
    let loaded = match config::load(&path, &NoEnv) {
        Ok(l) => l,
        Err(d) => panic!("config does not load:\n{d}"),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let gw = Gateway::bind(loaded.config, None).await.expect("bind");
            tx.send(gw.local_addr().expect("addr")).expect("send addr");
            gw.run(std::future::pending()).await.expect("run");
        });
    });
    rx.recv().expect("gateway address")
}

/// Counts and checks; prints one summary line.
pub(crate) fn run(alloc: &'static StatsAlloc<std::alloc::System>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = upstream();
    let gw = gateway(dir.path(), up);
    let event = support::track_event();
    let batch = support::batch(16 * 1024);
    let person = support::person_batch(16 * 1024);

    // The harness itself: client straight at the upstream.
    let direct = per_request(alloc, up, &request("/v1/track", &event));
    assert!(direct < 0.01, "the harness allocates {direct} per request");

    let shell_1k = per_request(alloc, gw, &request("/shell/v1/track", &event));
    let shell_16k = per_request(alloc, gw, &request("/shell/v1/batch", &batch));
    let policy_1k = per_request(alloc, gw, &request("/policy/v1/track", &event));
    let policy_16k = per_request(alloc, gw, &request("/policy/v1/batch", &batch));
    let policy_person_16k = per_request(alloc, gw, &request("/policy/v1/batch", &person));
    println!(
        "alloc_budget e2e (allocations per request): shell {shell_1k:.1} (1 KB) / {shell_16k:.1} (16 KB), \
         typical policy {policy_1k:.1} (1 KB) / {policy_16k:.1} (16 KB) / {policy_person_16k:.1} \
         (16 KB, one person)"
    );
    for (what, got, max) in [
        ("shell, 1 KB", shell_1k, BUDGET.shell_1k),
        ("shell, 16 KB", shell_16k, BUDGET.shell_16k),
        ("typical policy, 1 KB", policy_1k, BUDGET.policy_1k),
        ("typical policy, 16 KB", policy_16k, BUDGET.policy_16k),
        (
            "typical policy, 16 KB of one person",
            policy_person_16k,
            BUDGET.policy_person_16k,
        ),
    ] {
        assert!(
            got <= max,
            "{what}: {got:.1} allocations per request, budget {max}"
        );
    }
}
