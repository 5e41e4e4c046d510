//! A TCP proxy on loopback that puts faults between Lifeboat and a real server: it passes bytes
//! through until told to misbehave once a number of bytes has gone up to the server (or come down
//! from it), then resets
//! every connection, stops passing anything (a stall), answers HTTP 503 for a while (an overloaded
//! service), or passes bytes slowly (a thin uplink).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// What the proxy does once armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every open connection is reset (RST), once; later connections pass.
    Reset,
    /// Nothing passes either way on any connection, open or new, until [`FaultProxy::heal`].
    Stall,
    /// Open connections are answered `503 Service Unavailable` and closed, and so are the next
    /// this many new ones; then connections pass again.
    Unavailable(u32),
    /// Bytes up to the server pass at about this many per second.
    Throttle(u64),
}

#[derive(Debug, Default)]
struct Plan {
    fault: Option<Fault>,
    /// Bytes still to pass before the fault starts: up to the server, or down from it.
    after: u64,
    /// Counted down from the server (a download broken), not up to it.
    down: bool,
}

struct State {
    upstream: SocketAddr,
    plan: Mutex<Plan>,
    /// Bytes that went up to the server, in all.
    up: AtomicU64,
    /// Bytes that came down from the server, in all.
    down: AtomicU64,
    /// New connections still to answer 503.
    unavailable_left: AtomicU32,
    /// A fault that hits every open connection at once (a reset, the start of a 503 burst).
    strike: broadcast::Sender<Fault>,
    /// How many connections were reset or answered 503.
    hit: AtomicU32,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream,
            plan: Mutex::new(Plan::default()),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            unavailable_left: AtomicU32::new(0),
            strike: broadcast::Sender::new(16),
            hit: AtomicU32::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(client, st.clone()));
            }
        });
        Self { addr, state, task }
    }

    /// A proxy in front of the `host:port` of a URL; returns the proxy and the URL with the
    /// proxy's port in place of the server's.
    pub async fn in_front_of(url: &str) -> (Self, String) {
        let parsed = url::Url::parse(url).unwrap();
        let upstream: SocketAddr = format!(
            "{}:{}",
            parsed.host_str().unwrap(),
            parsed.port_or_known_default().unwrap()
        )
        .parse()
        .unwrap();
        let proxy = Self::start(upstream).await;
        let mut moved = parsed.clone();
        moved.set_port(Some(proxy.addr.port())).unwrap();
        let moved = moved.to_string();
        let moved = if url.ends_with('/') {
            moved
        } else {
            moved.trim_end_matches('/').to_owned()
        };
        (proxy, moved)
    }

    /// Starts `fault` once `after` more bytes have gone up to the server.
    pub fn after(&self, after: u64, fault: Fault) {
        let mut plan = self.state.plan.lock().unwrap();
        plan.after = self.state.up.load(Ordering::SeqCst) + after;
        plan.fault = Some(fault);
        plan.down = false;
    }

    /// Resets every open connection once `after` more bytes have come down from the server (a
    /// download broken off).
    pub fn reset_after_down(&self, after: u64) {
        let mut plan = self.state.plan.lock().unwrap();
        plan.after = self.state.down.load(Ordering::SeqCst) + after;
        plan.fault = Some(Fault::Reset);
        plan.down = true;
    }

    /// Bytes that came down from the server so far.
    pub fn bytes_down(&self) -> u64 {
        self.state.down.load(Ordering::SeqCst)
    }

    /// Ends a stall or a throttle: bytes pass freely again.
    pub fn heal(&self) {
        self.state.plan.lock().unwrap().fault = None;
    }

    /// Bytes that went up to the server so far.
    pub fn bytes_up(&self) -> u64 {
        self.state.up.load(Ordering::SeqCst)
    }

    /// How many connections a reset or a 503 hit.
    pub fn hits(&self) -> u32 {
        self.state.hit.load(Ordering::SeqCst)
    }

    /// Whether a stall is holding connections now.
    pub fn stalling(&self) -> bool {
        self.state.standing() == Some(Fault::Stall)
    }
}

impl State {
    /// Counts `n` bytes going up and says which fault, if any, is now in force. A fault that
    /// happens once (a reset, the start of a burst of 503s) strikes every open connection.
    fn passing(&self, n: u64) -> Option<Fault> {
        let total = self.up.fetch_add(n, Ordering::SeqCst) + n;
        let mut plan = self.plan.lock().unwrap();
        let fault = plan.fault?;
        if plan.down || total < plan.after {
            return None;
        }
        if let Fault::Reset | Fault::Unavailable(_) = fault {
            plan.fault = None;
            if let Fault::Unavailable(n) = fault {
                self.unavailable_left.store(n, Ordering::SeqCst);
            }
            let _ = self.strike.send(fault);
        }
        Some(fault)
    }

    /// Counts `n` bytes coming down; a reset armed by bytes down strikes every open connection
    /// once they have.
    fn passing_down(&self, n: u64) -> Option<Fault> {
        let total = self.down.fetch_add(n, Ordering::SeqCst) + n;
        let mut plan = self.plan.lock().unwrap();
        if !plan.down || plan.fault != Some(Fault::Reset) || total < plan.after {
            return None;
        }
        plan.fault = None;
        let _ = self.strike.send(Fault::Reset);
        Some(Fault::Reset)
    }

    /// A stall or a throttle that has started.
    fn standing(&self) -> Option<Fault> {
        let plan = self.plan.lock().unwrap();
        match plan.fault {
            Some(f @ (Fault::Stall | Fault::Throttle(_)))
                if self.up.load(Ordering::SeqCst) >= plan.after =>
            {
                Some(f)
            }
            _ => None,
        }
    }

    async fn wait_out_stall(&self) {
        while self.standing() == Some(Fault::Stall) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
    Content-Length: 20\r\nConnection: close\r\n\r\nservice unavailable\n";

async fn connection(client: TcpStream, st: Arc<State>) {
    let mut strike = st.strike.subscribe();
    if st
        .unavailable_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        st.hit.fetch_add(1, Ordering::SeqCst);
        unavailable(client).await;
        return;
    }
    let Ok(server) = TcpStream::connect(st.upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let fault = {
        let up = async {
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
                match st.passing(n as u64) {
                    Some(f @ (Fault::Reset | Fault::Unavailable(_))) => return Some(f),
                    Some(Fault::Throttle(rate)) => {
                        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                    }
                    Some(Fault::Stall) => st.wait_out_stall().await,
                    None => {}
                }
                if sw.write_all(&buf[..n]).await.is_err() {
                    return None;
                }
            }
        };
        let down = async {
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let n = match sr.read(&mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
                if let Some(f) = st.passing_down(n as u64) {
                    return Some(f);
                }
                st.wait_out_stall().await;
                if cw.write_all(&buf[..n]).await.is_err() {
                    return None;
                }
            }
        };
        tokio::select! {
            f = up => f,
            f = down => f,
            f = strike.recv() => f.ok(),
        }
    };
    match fault {
        Some(Fault::Reset) => {
            st.hit.fetch_add(1, Ordering::SeqCst);
            let client = cr.reunite(cw).unwrap();
            let _ = client.set_zero_linger();
            let server = sr.reunite(sw).unwrap();
            let _ = server.set_zero_linger();
        }
        Some(Fault::Unavailable(_)) => {
            st.hit.fetch_add(1, Ordering::SeqCst);
            let _ = cw.write_all(UNAVAILABLE).await;
            let _ = cw.shutdown().await;
            let server = sr.reunite(sw).unwrap();
            let _ = server.set_zero_linger();
        }
        _ => {}
    }
}

/// Reads what the client sends first (up to the end of a request head) and answers 503.
async fn unavailable(mut client: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
        match tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let _ = client.write_all(UNAVAILABLE).await;
    let _ = client.shutdown().await;
}
