//! `[limits]`: body sizes, nesting depth, timeouts and the connection budget, each bounded.

use std::time::Duration;

use crate::config::Limits;
use crate::config::diag::{Diagnostics, Source};
use crate::config::reader::At;
use crate::config::spec::ConfigSpec;

/// A bounded number setting: its value when set and within `min..=max`, else `default` (with
/// an error at the value when it is out of bounds).
pub(super) struct Bounded<'k> {
    pub(super) key: &'k str,
    pub(super) default: u64,
    pub(super) min: u64,
    pub(super) max: u64,
}

impl Bounded<'_> {
    pub(super) fn read(&self, v: Option<&At<u64>>, src: Source<'_>, d: &mut Diagnostics) -> u64 {
        let Self {
            key,
            default,
            min,
            max,
        } = *self;
        match v {
            Some(At { value, span }) if *value < min || *value > max => {
                d.error(
                    src,
                    span.clone(),
                    "bad_value",
                    format!("`{key}` must be between {min} and {max}"),
                );
                default
            }
            Some(At { value, .. }) => *value,
            None => default,
        }
    }
}

pub(super) fn limits(spec: &ConfigSpec, src: Source<'_>, d: &mut Diagnostics) -> Limits {
    let l = &spec.limits;
    let mut get = |v: &Option<At<u64>>, default: u64, min: u64, max: u64, key: &str| -> u64 {
        Bounded {
            key,
            default,
            min,
            max,
        }
        .read(v.as_ref(), src, d)
    };
    const GIB: u64 = 1 << 30;
    let max_body = get(&l.max_body_bytes, 10 << 20, 1, GIB, "max_body_bytes");
    let max_decoded = get(
        &l.max_decoded_bytes,
        50 << 20,
        1,
        4 * GIB,
        "max_decoded_bytes",
    );
    let depth = get(&l.max_json_depth, 128, 1, 10_000, "max_json_depth");
    let req = get(
        &l.request_timeout_ms,
        30_000,
        1,
        3_600_000,
        "request_timeout_ms",
    );
    let up = get(
        &l.upstream_timeout_ms,
        30_000,
        1,
        3_600_000,
        "upstream_timeout_ms",
    );
    let hdr = get(
        &l.header_read_timeout_ms,
        10_000,
        1,
        3_600_000,
        "header_read_timeout_ms",
    );
    let conns = get(&l.max_connections, 10_000, 1, 1_000_000, "max_connections");
    let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Limits {
        max_body_bytes: as_usize(max_body),
        max_decoded_bytes: as_usize(max_decoded),
        max_json_depth: as_usize(depth),
        request_timeout: Duration::from_millis(req),
        upstream_timeout: Duration::from_millis(up),
        header_read_timeout: Duration::from_millis(hdr),
        max_connections: as_usize(conns),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{ROUTE, compile, diagnose};

    #[test]
    fn a_limit_outside_its_bounds_is_an_error_at_its_value() {
        let text = format!("[limits]\nmax_json_depth = 0\nmax_connections = 2000000\n{ROUTE}");
        assert_eq!(
            diagnose(&text),
            [
                "2:18 error[bad_value]: `max_json_depth` must be between 1 and 10000",
                "3:19 error[bad_value]: `max_connections` must be between 1 and 1000000",
            ]
        );
    }

    #[test]
    fn bounds_are_inclusive_and_unset_limits_take_their_defaults() {
        let text = format!("[limits]\nmax_json_depth = 10000\nmax_body_bytes = 1\n{ROUTE}");
        let c = compile(&text);
        assert_eq!(c.lines(), Vec::<String>::new());
        let l = c.config.expect("compiles").limits;
        assert_eq!((l.max_json_depth, l.max_body_bytes), (10_000, 1));
        assert_eq!(l.max_decoded_bytes, 50 << 20);
        assert_eq!(l.request_timeout, Duration::from_secs(30));
        assert_eq!(l.upstream_timeout, Duration::from_secs(30));
        assert_eq!(l.header_read_timeout, Duration::from_secs(10));
        assert_eq!(l.max_connections, 10_000);
    }
}
