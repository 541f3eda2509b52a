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

#[cfg(test)]
mod tests {
    use super::super::testing::{ROUTE, compile, diagnose};

    #[test]
    fn a_listen_address_must_be_an_ip_socket_address() {
        for bad in ["localhost:8443", "127.0.0.1", "[::1]"] {
            let text = format!("[server]\nlisten = \"{bad}\"\n{ROUTE}");
            assert_eq!(
                diagnose(&text),
                [
                    "2:10 error[bad_address]: `listen` must be an IP socket address such as \
                  \"127.0.0.1:8443\" or \"[::]:8443\""
                ],
                "{bad}"
            );
        }
        let text = format!("[admin]\nlisten = \"admin\"\n{ROUTE}");
        assert_eq!(
            diagnose(&text),
            [
                "2:10 error[bad_address]: `listen` must be an IP socket address such as \
              \"127.0.0.1:8443\" or \"[::]:8443\""
            ]
        );
    }

    #[test]
    fn ipv6_and_default_addresses_are_accepted() {
        let text = format!("[server]\nlisten = \"[::1]:0\"\n[admin]\n{ROUTE}");
        let c = compile(&text).config.expect("compiles");
        assert_eq!(c.server.listen.to_string(), "[::1]:0");
        assert_eq!(c.admin.expect("admin").listen.to_string(), "127.0.0.1:9901");
    }
}
