//! Content codings (`Content-Encoding`): bounded decoding and re-encoding.
//!
//! SDKs compress what they send (RudderStack and posthog-node gzip by default, PostHog's Python
//! SDK can send zstd). A policed body must be decoded before it can be rewritten and re-encoded
//! with the same coding afterwards. Decoding is capped: output past `max` stops with
//! [`CodecError::TooLarge`] before it is materialised, so a decompression bomb costs at most
//! `max` bytes of memory. Sans-io: bytes in, bytes out.
//!
//! Decoders disagree about what surrounds a stream's data: gzip names, comments and extra
//! fields, members after the first (Ruby's `GzipReader` and PHP's `gzdecode` stop there, Go,
//! Python and Node read on), bytes after a zlib stream, zstd skippable frames, brotli
//! metadata, and a recipient that ignores `Content-Encoding` reads the raw bytes as they are.
//! So the proxy never forwards a coded body it polices as it came: it forwards what it
//! decoded, encoded again by [`encode_all`] (data only).

use std::io::{Read, Write};

/// A content coding piigate can decode and re-encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `br` (RFC 7932).
    Brotli,
    /// `deflate`: zlib-wrapped per RFC 9110 §8.4.1.2 (raw deflate accepted on decode, as
    /// browsers do, and re-encoded in the form it arrived in).
    Deflate {
        /// Whether the stream had the zlib wrapper.
        zlib: bool,
    },
    /// `gzip` / `x-gzip` (RFC 1952), multi-member streams included.
    Gzip,
    /// `zstd` (RFC 8878).
    Zstd,
}

/// Why a body could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Decoded output would exceed the limit (a decompression bomb, or simply too large).
    #[error("decoded body exceeds the limit")]
    TooLarge,
    /// The stream is corrupt or truncated.
    #[error("body is not a valid stream for its content coding")]
    Corrupt,
    /// The coding is not one piigate supports.
    #[error("unsupported content coding")]
    Unsupported,
}

/// Largest zstd window accepted (2^23 = 8 MiB): bounds decoder memory whatever the frame asks.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Parses a `Content-Encoding` value into the codings applied, in order. `identity` entries are
/// skipped; an empty result means no decoding is needed.
///
/// # Errors
/// [`CodecError::Unsupported`] for any other coding (`compress`, `exi`, …).
pub fn parse(header: &str) -> Result<Vec<Coding>, CodecError> {
    let mut out = Vec::new();
    for c in header.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        match c.to_ascii_lowercase().as_str() {
            "identity" => {}
            "gzip" | "x-gzip" => out.push(Coding::Gzip),
            "deflate" => out.push(Coding::Deflate { zlib: true }),
            "br" => out.push(Coding::Brotli),
            "zstd" => out.push(Coding::Zstd),
            _ => return Err(CodecError::Unsupported),
        }
    }
    Ok(out)
}

impl Coding {
    /// The `Content-Encoding` token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Deflate { .. } => "deflate",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }

    /// Decodes `input`, producing at most `max` bytes. Returns the coding as it actually was
    /// (raw versus zlib deflate) so re-encoding can match it.
    ///
    /// # Errors
    /// [`CodecError::TooLarge`] past `max`; [`CodecError::Corrupt`] for bad or truncated data.
    pub fn decode(self, input: &[u8], max: usize) -> Result<(Vec<u8>, Self), CodecError> {
        match self {
            Self::Gzip => capped(flate2::read::MultiGzDecoder::new(input), max).map(|v| (v, self)),
            Self::Deflate { .. } => match capped(flate2::read::ZlibDecoder::new(input), max) {
                Ok(v) => Ok((v, Self::Deflate { zlib: true })),
                Err(CodecError::Corrupt) => capped(flate2::read::DeflateDecoder::new(input), max)
                    .map(|v| (v, Self::Deflate { zlib: false })),
                Err(e) => Err(e),
            },
            Self::Brotli => capped(brotli::Decompressor::new(input, 4096), max).map(|v| (v, self)),
            Self::Zstd => {
                let mut d =
                    zstd::stream::read::Decoder::new(input).map_err(|_| CodecError::Corrupt)?;
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|_| CodecError::Corrupt)?;
                capped(d, max).map(|v| (v, self))
            }
        }
    }

    /// Encodes `input` with this coding (moderate levels: bodies are small and latency counts).
    ///
    /// # Errors
    /// [`CodecError::Corrupt`] if the encoder fails (it does not for in-memory buffers).
    pub fn encode(self, input: &[u8]) -> Result<Vec<u8>, CodecError> {
        let map = |_| CodecError::Corrupt;
        match self {
            Self::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(4));
                e.write_all(input).map_err(map)?;
                e.finish().map_err(map)
            }
            Self::Deflate { zlib: true } => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(4));
                e.write_all(input).map_err(map)?;
                e.finish().map_err(map)
            }
            Self::Deflate { zlib: false } => {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(4));
                e.write_all(input).map_err(map)?;
                e.finish().map_err(map)
            }
            Self::Brotli => {
                let mut out = Vec::new();
                {
                    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    w.write_all(input).map_err(map)?;
                    w.flush().map_err(map)?;
                }
                Ok(out)
            }
            Self::Zstd => zstd::bulk::compress(input, 3).map_err(map),
        }
    }
}

/// Reads everything from `r`, failing once more than `max` bytes come out.
fn capped(r: impl Read, max: usize) -> Result<Vec<u8>, CodecError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|_| CodecError::Corrupt)?;
    if out.len() > max {
        return Err(CodecError::TooLarge);
    }
    Ok(out)
}

/// Decodes a body through every coding in `codings` (applied in order, so undone in reverse).
///
/// # Errors
/// See [`Coding::decode`].
pub fn decode_all(
    codings: &[Coding],
    input: &[u8],
    max: usize,
) -> Result<(Vec<u8>, Vec<Coding>), CodecError> {
    let mut actual = Vec::with_capacity(codings.len());
    let mut buf = input.to_vec();
    for c in codings.iter().rev() {
        let (out, seen) = c.decode(&buf, max)?;
        buf = out;
        actual.push(seen);
    }
    actual.reverse();
    Ok((buf, actual))
}

/// Re-applies `codings` in order.
///
/// # Errors
/// See [`Coding::encode`].
pub(crate) fn encode_all(codings: &[Coding], input: Vec<u8>) -> Result<Vec<u8>, CodecError> {
    let mut buf = input;
    for c in codings {
        buf = c.encode(&buf)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Coding; 5] = [
        Coding::Gzip,
        Coding::Deflate { zlib: true },
        Coding::Deflate { zlib: false },
        Coding::Brotli,
        Coding::Zstd,
    ];

    #[test]
    fn round_trips_every_coding() {
        let body = br#"{"userId":"u1","traits":{"email":"a@b.example"}}"#.repeat(20);
        for c in ALL {
            let enc = c.encode(&body).expect("encode");
            let (dec, seen) = c.decode(&enc, 1 << 20).expect("decode");
            assert_eq!(dec, body, "{c:?}");
            assert_eq!(seen, c, "the coding as it arrived is reported back");
        }
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let zeros = vec![0u8; 8 << 20];
        for c in ALL {
            let enc = c.encode(&zeros).expect("encode");
            assert!(enc.len() < 64 << 10, "{c:?} compresses zeros well");
            assert_eq!(c.decode(&enc, 1 << 20), Err(CodecError::TooLarge), "{c:?}");
        }
    }

    #[test]
    fn truncated_and_garbage_streams_are_corrupt() {
        let body = br#"{"a":"some text that compresses to a few dozen bytes at least"}"#.repeat(10);
        for c in ALL {
            let enc = c.encode(&body).expect("encode");
            let cut = &enc[..enc.len() - 4];
            assert!(c.decode(cut, 1 << 20).is_err(), "{c:?} truncated");
            assert!(
                c.decode(b"definitely not compressed", 1 << 20).is_err(),
                "{c:?} garbage"
            );
        }
    }

    #[test]
    fn parses_header_lists() {
        assert_eq!(parse("gzip"), Ok(vec![Coding::Gzip]));
        assert_eq!(parse("identity"), Ok(vec![]));
        assert_eq!(
            parse("deflate, br"),
            Ok(vec![Coding::Deflate { zlib: true }, Coding::Brotli])
        );
        assert_eq!(parse("compress"), Err(CodecError::Unsupported));
    }
}
