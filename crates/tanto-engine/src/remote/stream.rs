//! Bodies of the attach and query connections: whole, empty, or streamed
//! to and from blocking code (tar writers and readers run off the runtime).

use std::io;

use bytes::Bytes;
use futures::TryStreamExt as _;
use http_body_util::{combinators::BoxBody, BodyDataStream, BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};

/// Every body this module sends.
pub type Body = BoxBody<Bytes, io::Error>;

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// How much a [`BodyWriter`] gathers before it sends a frame.
const FRAME: usize = 256 << 10;

/// A body that `write` fills off the runtime (a tar writer, a file copy):
/// its end once `write` returns `Ok`; an error otherwise (the peer sees the
/// stream reset, never a short stream taken for a whole one).
pub fn from_blocking<E: std::fmt::Display>(
    write: impl FnOnce(&mut BodyWriter) -> Result<(), E> + Send + 'static,
) -> Body {
    let (tx, body) = sender();
    tokio::task::spawn_blocking(move || {
        let mut w = BodyWriter { tx, buf: Vec::with_capacity(FRAME), finished: false };
        match write(&mut w) {
            Ok(()) => {
                let _ = w.finish();
            }
            Err(e) => w.fail(io::Error::other(e.to_string())),
        }
    });
    body
}

/// What [`from_blocking`]'s writer writes to: frames of [`FRAME`] bytes.
pub struct BodyWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Frame<Bytes>>>,
    buf: Vec<u8>,
    /// Set by [`BodyWriter::finish`]: dropped otherwise (a writer that
    /// panicked or returned early), the body ends with an error.
    finished: bool,
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.tx.try_send(Err(io::Error::other("the writer stopped before the end")));
        }
    }
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(FRAME)));
        self.tx
            .blocking_send(Ok(Frame::data(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the other side stopped reading"))
    }

    /// Ends the body with `e` instead of its end.
    fn fail(mut self, e: io::Error) {
        self.finished = true;
        let _ = self.tx.blocking_send(Err(e));
    }

    /// Sends what is buffered and ends the body.
    fn finish(mut self) -> io::Result<()> {
        let sent = self.send();
        self.finished = sent.is_ok();
        sent
    }
}

impl io::Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= FRAME {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// `body` as a blocking reader; make it on the runtime, use it off it.
/// Buffered: each read of the bridge waits on the runtime, and tar reads
/// 512 bytes at a time.
pub fn reader(body: Incoming) -> impl io::Read + Send + 'static {
    let stream = BodyDataStream::new(body).map_err(io::Error::other);
    let bridge = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    io::BufReader::with_capacity(1 << 20, bridge)
}

/// The whole body, refused beyond `limit` bytes.
pub async fn read_all(body: Incoming, limit: usize, what: &str) -> Result<Bytes, crate::EngineError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(crate::EngineError::environment(format!("reading {what}: {e}"))),
    }
}

/// A body fed by async code: frames sent on the sender; dropping it ends the body.
pub fn sender() -> (tokio::sync::mpsc::Sender<io::Result<Frame<Bytes>>>, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Frame<Bytes>>>(8);
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (tx, StreamBody::new(stream).boxed())
}

/// Joins `conn` with an HTTP/2 stream: what `conn` reads goes out on `out`,
/// what `incoming` brings is written to `conn`; ends when both sides have.
pub async fn pipe<C>(conn: C, mut incoming: Incoming, out: tokio::sync::mpsc::Sender<io::Result<Frame<Bytes>>>)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (mut read, mut write) = tokio::io::split(conn);
    let up = async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match read.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    if out.send(Ok(Frame::data(Bytes::copy_from_slice(&buf[..n])))).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = out.send(Err(e)).await;
                    break;
                }
            }
        }
    };
    let down = async move {
        while let Some(frame) = incoming.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                if write.write_all(data).await.is_err() {
                    return;
                }
            }
        }
        let _ = write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// An HTTP/2 client handshake that pings its peer every 30 s and gives up on
/// it after 30 s without an answer: a client or engine that vanished without
/// closing the connection fails what waits on it instead of holding it.
pub async fn h2_client<I>(
    io: I,
) -> Result<
    (
        hyper::client::conn::http2::SendRequest<Body>,
        hyper::client::conn::http2::Connection<I, Body, hyper_util::rt::TokioExecutor>,
    ),
    hyper::Error,
>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(std::time::Duration::from_secs(30))
        .keep_alive_timeout(std::time::Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .handshake(io)
        .await
}
