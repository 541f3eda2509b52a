//! Listener addresses: `[server]`, `[admin]` and `[forward_proxy]` `listen`.

use std::net::SocketAddr;

use crate::config::diag::{Diagnostics, Source};
use crate::config::reader::At;

pub(super) fn socket(
    v: Option<&At<String>>,
    default: &str,
    src: Source<'_>,
    d: &mut Diagnostics,
) -> Option<SocketAddr> {
    let text = v.map_or(default, |v| v.value.as_str());
    match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            let span = v.map_or(0..0, |v| v.span.clone());
            d.error(
                src,
                span,
                "bad_address",
                "`listen` must be an IP socket address such as \"127.0.0.1:8443\" or \"[::]:8443\"",
            );
            None
        }
    }
}
