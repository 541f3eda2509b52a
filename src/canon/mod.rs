//! One reading of a request: the parts two HTTP servers could read differently, reduced to
//! one canonical meaning before a request is routed and policed, or refused.
//!
//! piigate's promise holds only where piigate and the recipient agree on what the forwarded
//! bytes mean. Every rule here closes a parser differential between a front end and the
//! servers recipients run (the class of bug request smuggling belongs to); docs/BOUNDARY.md
//! lists the accepted grammar and the reason for each rule, and the differential suite
//! (`scripts/differential/`) checks it against those servers' own parsers.
//!
//! - [`path`]: every route — dot segments removed, escapes normalised, ambiguous forms refused;
//! - [`content`]: policed routes — one `Content-Type`, one `Content-Encoding` list;
//! - [`headers`]: the authority against `Host`, cookie crumbs, `_` spellings of header names,
//!   `Referer` and `Origin` reduced to an origin;
//! - [`cookies`]: the pairs of the `Cookie` header, and which forwarded values have one reading.
//!
//! Form and query pairs are read by their rewriter ([`crate::rewrite::form`]), whose grammar
//! is the strict one described there; field names are matched as the most permissive common
//! framework folds them ([`crate::policy::fields`]).
//!
//! Sans-io: `http` types in, `http` types or a [`RejectCode`](crate::error::RejectCode) out;
//! no tokio, no hyper, no allocation for an already canonical request.

pub mod content;
pub mod cookies;
pub mod headers;
pub mod path;
pub mod percent;
