//! Slow clients (slowloris): deadlines on each connection, below HTTP.
//!
//! axum's server gives hyper no timer, so hyper's own header timeout never fires and a client
//! sending one byte a second would hold a connection (and a file descriptor) forever. Each
//! accepted connection is wrapped in [`Guarded`], which watches the bytes it reads:
//! - a request head (up to its blank line) must arrive within `header` of the connection's
//!   start, or of its first byte on a kept-alive connection;
//! - a kept-alive connection may wait `idle` for its next request;
//! - once the head is in, the rest (body, handling) must be done within `body` (document
//!   endpoints also bound their body read themselves).
//!
//! When a deadline passes, the next read fails with `TimedOut` and hyper closes the
//! connection. Every response byte written restarts the idle wait, so a long streamed export
//! is not cut. Written for HTTP/1.1, which is all the collector speaks.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The three waits of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub header: Duration,
    pub idle: Duration,
    pub body: Duration,
}

impl Deadlines {
    /// From `[limits]`; a kept-alive connection may idle as long as agents' HTTP clients keep
    /// them (reqwest: 90 s).
    pub fn new(header: Duration, body: Duration) -> Self {
        Deadlines {
            header,
            idle: Duration::from_secs(90),
            body,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head; `started` once a byte of it arrived.
    Head { started: bool, kept_alive: bool },
    /// Head received; body and handling.
    Request,
}

/// A connection with deadlines; see the module docs.
pub struct Guarded<IO> {
    io: IO,
    deadlines: Deadlines,
    phase: Phase,
    /// Line feeds in a row so far (carriage returns ignored): two end a head.
    newlines: u8,
    timer: Pin<Box<Sleep>>,
}

impl<IO> Guarded<IO> {
    pub fn new(io: IO, deadlines: Deadlines) -> Self {
        Guarded {
            io,
            deadlines,
            phase: Phase::Head {
                started: false,
                kept_alive: false,
            },
            newlines: 0,
            timer: Box::pin(tokio::time::sleep(deadlines.header)),
        }
    }

    fn restart(&mut self, wait: Duration) {
        self.timer.as_mut().reset(Instant::now() + wait);
    }

    /// Follows the request heads in the bytes the server reads.
    fn observe(&mut self, bytes: &[u8]) {
        let Phase::Head {
            started,
            kept_alive,
        } = self.phase
        else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        if !started {
            self.phase = Phase::Head {
                started: true,
                kept_alive,
            };
            if kept_alive {
                self.restart(self.deadlines.header);
            }
        }
        for &b in bytes {
            match b {
                b'\n' => {
                    self.newlines += 1;
                    if self.newlines == 2 {
                        self.phase = Phase::Request;
                        self.newlines = 0;
                        self.restart(self.deadlines.body);
                        return;
                    }
                }
                b'\r' => {}
                _ => self.newlines = 0,
            }
        }
    }

    fn wrote(&mut self) {
        self.phase = Phase::Head {
            started: false,
            kept_alive: true,
        };
        self.newlines = 0;
        self.restart(self.deadlines.idle);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.timer.as_mut().poll(cx).is_ready() {
            let what = match self.phase {
                Phase::Head {
                    started: false,
                    kept_alive: true,
                } => "idle connection",
                Phase::Head { .. } => "request head not received in time",
                Phase::Request => "request not completed in time",
            };
            tracing::debug!(what, "closing a slow connection");
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let filled = buf.filled()[before..].to_vec();
                this.observe(&filled);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = result {
            if n > 0 {
                self.wrote();
            }
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            if n > 0 {
                self.wrote();
            }
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A listener whose connections are [`Guarded`].
pub struct GuardedListener<L> {
    inner: L,
    deadlines: Deadlines,
}

impl<L> GuardedListener<L> {
    pub fn new(inner: L, deadlines: Deadlines) -> Self {
        GuardedListener { inner, deadlines }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for GuardedListener<L> {
    type Io = Guarded<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.inner.accept().await;
        (Guarded::new(io, self.deadlines), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn deadlines() -> Deadlines {
        Deadlines {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(90),
            body: Duration::from_secs(300),
        }
    }

    /// Reads until the guard fails or `n` bytes came; the error kind, if any.
    async fn read_some<IO: AsyncRead + Unpin>(g: &mut Guarded<IO>, n: usize) -> io::Result<usize> {
        let mut buf = vec![0u8; n];
        g.read(&mut buf).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_trickled_byte_by_byte_is_cut_at_the_header_deadline() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut g = Guarded::new(server, deadlines());
        let started = Instant::now();
        let head = b"POST /api/v1/inventories HTTP/1.1\r\nHost: x\r\n";
        let mut result = Ok(0);
        for b in head {
            client.write_all(&[*b]).await.unwrap();
            result = read_some(&mut g, 1).await;
            if result.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let err = result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took <= Duration::from_secs(11),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_cut_at_the_header_deadline() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut g = Guarded::new(server, deadlines());
        let started = Instant::now();
        let err = read_some(&mut g, 16).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_head_gets_the_body_deadline_and_a_response_the_idle_one() {
        let (mut client, server) = tokio::io::duplex(4096);
        let mut g = Guarded::new(server, deadlines());
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n")
            .await
            .unwrap();
        read_some(&mut g, 4096).await.unwrap();
        assert_eq!(g.phase, Phase::Request);
        // A slow body within the body deadline is fine.
        tokio::time::sleep(Duration::from_secs(200)).await;
        client.write_all(b"{\"a\":\n\n1}").await.unwrap();
        assert_eq!(read_some(&mut g, 4096).await.unwrap(), 9);
        assert_eq!(g.phase, Phase::Request, "blank lines in a body are body");
        g.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 64];
        let _ = client.read(&mut answer).await.unwrap();
        // Kept alive: idle up to 90 s, then a new head gets the header deadline again.
        tokio::time::sleep(Duration::from_secs(80)).await;
        client
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        read_some(&mut g, 4096).await.unwrap();
        tokio::time::sleep(Duration::from_secs(9)).await;
        client.write_all(b"Host: x\n\n").await.unwrap();
        read_some(&mut g, 4096).await.unwrap();
        assert_eq!(g.phase, Phase::Request, "bare line feeds end a head too");
        g.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let started = Instant::now();
        let err = read_some(&mut g, 16).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(90));
    }
}
