//! Request body intake: bounded collection (codings are `rewrite::body`'s).
//!
//! hyper puts no limit on bodies; this module is where the gateway's limits live. Bodies are
//! collected only up to the route's `max_body_bytes` and only within `request_timeout`.

use bytes::Bytes;
use http::HeaderMap;
use http::header;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::BoxError;
use super::upstream::UpstreamBody;
use crate::error::RejectCode;

/// A body crossing the proxy: sent to the upstream, or back to the client. An enum rather than
/// a boxed trait object, so that the common cases — a complete buffer, the upstream's response
/// streamed back, a client's body streamed through — cost no allocation.
#[derive(Debug)]
pub enum Body {
    /// A complete body in memory (`None` once sent, or when empty).
    Full(Option<Bytes>),
    /// The upstream's response as it arrives.
    Upstream(UpstreamBody),
    /// A client's request body streamed through to the upstream, watched and capped.
    Streamed(Limited<Watched>),
}

impl Body {
    /// A complete body.
    pub fn full(bytes: Bytes) -> Self {
        Self::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// The length of a complete body (`None` for one that streams).
    pub(crate) fn full_len(&self) -> Option<u64> {
        match self {
            Self::Full(b) => Some(b.as_ref().map_or(0, |b| b.len() as u64)),
            _ => None,
        }
    }

    /// An upstream response's fields that are still the bytes they arrived in: the writer of
    /// the answer's head passes them on ([`super::upstream::fields`]).
    pub(crate) fn raw_fields(&self) -> Option<&super::upstream::fields::RawFields> {
        match self {
            Self::Upstream(b) => b.raw_fields(),
            _ => None,
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        use std::task::Poll;
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(http_body::Frame::data(b)))),
            Self::Upstream(b) => std::pin::Pin::new(b).poll_frame(cx),
            Self::Streamed(b) => std::pin::Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::Upstream(b) => b.is_end_stream(),
            Self::Streamed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Self::Full(_) => http_body::SizeHint::with_exact(self.full_len().unwrap_or(0)),
            Self::Upstream(b) => b.size_hint(),
            Self::Streamed(b) => b.size_hint(),
        }
    }
}

/// A request body as a client connection delivers it: piigate's own HTTP/1.1 server's, or
/// hyper's (HTTP/2, and the forward proxy's connections). One type, so every request shares the
/// request path whichever server read it.
#[derive(Debug)]
pub enum ClientBody {
    /// Read by [`super::server`] from an HTTP/1.1 connection.
    Own(super::server::RequestBody),
    /// Read by hyper.
    Hyper(Incoming),
}

impl From<super::server::RequestBody> for ClientBody {
    fn from(body: super::server::RequestBody) -> Self {
        Self::Own(body)
    }
}

impl http_body::Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Own(b) => std::pin::Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
            Self::Hyper(b) => std::pin::Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Own(b) => b.is_end_stream(),
            Self::Hyper(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Self::Own(b) => b.size_hint(),
            Self::Hyper(b) => b.size_hint(),
        }
    }
}

/// The `Content-Length` a map of fields declares, when it reads as a number.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// Rejects early when the declared length is already over the limit.
///
/// # Errors
/// [`RejectCode::BodyTooLarge`].
pub(crate) fn check_declared_length(declared: Option<u64>, max: usize) -> Result<(), RejectCode> {
    match declared {
        Some(n) if n > max as u64 => Err(RejectCode::BodyTooLarge),
        _ => Ok(()),
    }
}

/// Reads the whole body, at most `max` bytes, within `timeout`.
///
/// # Errors
/// [`RejectCode::BodyTooLarge`], [`RejectCode::RequestTimeout`], or
/// [`RejectCode::MalformedBody`] when the client breaks the stream.
pub async fn collect<B>(
    body: B,
    max: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, RejectCode>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use std::future::Future as _;
    use std::task::Poll;
    let mut gathered = std::pin::pin!(gather(Limited::new(body, max)));
    // A body read with its head (most are) is whole at the first poll, which the timeout
    // would make first too: it gets no timer (no clock read, no handle on the runtime's
    // wheel). A body still arriving gets `timeout` from here.
    let first = std::future::poll_fn(|cx| Poll::Ready(gathered.as_mut().poll(cx))).await;
    let gathered = match first {
        Poll::Ready(out) => out,
        Poll::Pending => match tokio::time::timeout(timeout, gathered).await {
            Err(_) => return Err(RejectCode::RequestTimeout),
            Ok(out) => out,
        },
    };
    match gathered {
        Ok(b) => Ok(b),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(RejectCode::BodyTooLarge),
        Err(_) => Err(RejectCode::MalformedBody),
    }
}

/// A body's data frames as one buffer; trailers are ignored. A body that arrives in one
/// frame (a request read with its head, most of them) is that frame's buffer as it is: no
/// list of frames is kept and nothing is copied. Only a body in several frames is copied,
/// once, into a buffer of its own.
async fn gather<B>(body: B) -> Result<Bytes, B::Error>
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut joined: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        match &mut joined {
            Some(all) => all.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut all = bytes::BytesMut::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                joined = Some(all);
            }
        }
    }
    Ok(joined.map_or(first, bytes::BytesMut::freeze))
}

/// Whether a [`Watched`] body failed on the client's side, and how.
#[derive(Debug, Clone, Default)]
pub struct Broke(std::sync::Arc<std::sync::atomic::AtomicU8>);

const BROKEN: u8 = 1;
const TOO_SLOW: u8 = 2;

impl Broke {
    /// The client's fault once the watched body failed: `malformed_body` for broken framing or
    /// a lost connection, `request_timeout` for a body still arriving at the deadline.
    pub fn get(&self) -> Option<RejectCode> {
        match self.0.load(std::sync::atomic::Ordering::Acquire) {
            BROKEN => Some(RejectCode::MalformedBody),
            TOO_SLOW => Some(RejectCode::RequestTimeout),
            _ => None,
        }
    }

    fn set(&self, how: u8) {
        self.0.store(how, std::sync::atomic::Ordering::Release);
    }
}

/// The client stopped sending a streamed body before `request_timeout`.
#[derive(Debug)]
struct BodyDeadline;

impl std::fmt::Display for BodyDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body not received within request_timeout")
    }
}

impl std::error::Error for BodyDeadline {}

/// A streamed request body that records whether the client broke it (invalid chunked framing,
/// connection lost mid-upload), so a failed forward is not blamed on the upstream, and that
/// ends with an error when the body is still arriving at the request's deadline: a policed
/// body is collected within `request_timeout`, and a streamed one may take no longer, even
/// after the upstream has answered.
///
/// The deadline's timer is armed only when the body first makes the upstream connection wait:
/// a small body has usually been read with the request's head by the time it is forwarded,
/// and then no timer is allocated, registered or cancelled for it.
#[derive(Debug)]
pub struct Watched {
    inner: ClientBody,
    broke: Broke,
    deadline: tokio::time::Instant,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Watched {
    /// Watches `inner` until `timeout` from now, reporting into `broke`.
    pub fn new(inner: ClientBody, broke: &Broke, timeout: std::time::Duration) -> Self {
        let now = tokio::time::Instant::now();
        Self {
            inner,
            broke: broke.clone(),
            // A timeout too large to add is as good as none (tokio's `sleep` does the same).
            deadline: now
                .checked_add(timeout)
                .unwrap_or_else(|| now + std::time::Duration::from_secs(86_400 * 365 * 30)),
            timer: None,
        }
    }
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Err(e))) => {
                self.broke.set(BROKEN);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                let deadline = self.deadline;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    self.broke.set(TOO_SLOW);
                    return Poll::Ready(Some(Err(Box::new(BodyDeadline))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use hyper::body::Frame;

    use super::*;

    /// A body that hands out the frames it was given, one per poll.
    struct Frames(VecDeque<Result<Frame<Bytes>, BoxError>>);

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.get_mut().0.pop_front())
        }
    }

    fn data(s: &'static str) -> Result<Frame<Bytes>, BoxError> {
        Ok(Frame::data(Bytes::from_static(s.as_bytes())))
    }

    async fn collected(
        frames: Vec<Result<Frame<Bytes>, BoxError>>,
        max: usize,
    ) -> Result<Bytes, RejectCode> {
        collect(Frames(frames.into()), max, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn frames_are_joined_in_order_and_trailers_ignored() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", http::HeaderValue::from_static("1"));
        let body = collected(
            vec![
                data("{\"a\""),
                data(""),
                data(":1,"),
                data("\"b\":2}"),
                Ok(Frame::trailers(trailers)),
            ],
            64,
        )
        .await;
        assert_eq!(body, Ok(Bytes::from_static(b"{\"a\":1,\"b\":2}")));
    }

    #[tokio::test]
    async fn one_frame_is_passed_on_without_a_copy() {
        let frame = Bytes::from(b"{\"email\":\"x\"}".to_vec());
        let at = frame.as_ptr();
        let body = collected(vec![Ok(Frame::data(frame))], 64).await;
        assert_eq!(body.map(|b| b.as_ptr()), Ok(at));
        assert_eq!(collected(Vec::new(), 64).await, Ok(Bytes::new()));
    }

    #[tokio::test]
    async fn a_body_past_the_cap_or_broken_is_refused() {
        assert_eq!(
            collected(vec![data("12345"), data("6789")], 8).await,
            Err(RejectCode::BodyTooLarge)
        );
        assert_eq!(
            collected(vec![data("12345678")], 8).await,
            Ok(Bytes::from_static(b"12345678"))
        );
        assert_eq!(
            collected(vec![data("1"), Err("connection reset".into())], 8).await,
            Err(RejectCode::MalformedBody)
        );
    }

    /// A body whose first frame is there and whose next one never comes.
    struct Stalls(Option<Bytes>);

    impl http_body::Body for Stalls {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            match self.get_mut().0.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Poll::Pending,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_whole_at_the_first_poll_needs_no_time_and_one_still_arriving_gets_the_timeout()
    {
        // Read whole without a timer: not even a timeout of nothing cuts it.
        let whole = collect(Frames(vec![data("{}")].into()), 8, Duration::ZERO).await;
        assert_eq!(whole, Ok(Bytes::from_static(b"{}")));
        // Part of it here, the rest never: refused once the timeout has passed.
        let start = tokio::time::Instant::now();
        let stalled = collect(
            Stalls(Some(Bytes::from_static(b"{"))),
            8,
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(stalled, Err(RejectCode::RequestTimeout));
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }
}
