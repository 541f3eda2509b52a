//! A small reader over TOML's spanned document tree.
//!
//! serde's `deny_unknown_fields` stops at the first problem; an operator fixing a policy wants
//! every problem at once, each with its line and column. So the raw `*Spec` structs are filled
//! by walking the spanned tree by hand: every unknown key, wrong type and bad value becomes a
//! diagnostic, and reading carries on.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::diag::{Diagnostics, Source, did_you_mean};

/// A value with the byte span it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    /// The value.
    pub value: T,
    /// Where it is in the file.
    pub span: Range<usize>,
}

/// Reads one table, remembering which keys were consumed.
pub(crate) struct TableReader<'a, 'i> {
    pub(crate) src: Source<'a>,
    table: &'a DeTable<'i>,
    /// Span of the whole table (or of its header).
    pub(crate) span: Range<usize>,
    /// How the table is named in messages (`[server]`, `[[routes]] "segment"`).
    what: String,
    known: &'static [&'static str],
}

impl<'a, 'i> TableReader<'a, 'i> {
    pub(crate) fn new(
        src: Source<'a>,
        table: &'a DeTable<'i>,
        span: Range<usize>,
        what: impl Into<String>,
        known: &'static [&'static str],
    ) -> Self {
        Self {
            src,
            table,
            span,
            what: what.into(),
            known,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        debug_assert!(
            self.known.contains(&key),
            "{key} missing from the known list"
        );
        self.table.get(key)
    }

    /// Whether the key is present.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn type_error(&self, d: &mut Diagnostics, key: &str, v: &Spanned<DeValue<'i>>, want: &str) {
        d.error(
            self.src,
            v.span(),
            "wrong_type",
            format!("`{key}` in {} must be {want}", self.what),
        );
    }

    /// An optional string.
    pub(crate) fn string(&self, d: &mut Diagnostics, key: &str) -> Option<At<String>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(At {
                value: s.to_string(),
                span: v.span(),
            }),
            _ => {
                self.type_error(d, key, v, "a string");
                None
            }
        }
    }

    /// A required string.
    pub(crate) fn required_string(&self, d: &mut Diagnostics, key: &str) -> Option<At<String>> {
        if self.get(key).is_none() {
            d.error(
                self.src,
                self.span.clone(),
                "missing_key",
                format!("{} is missing `{key}`", self.what),
            );
            return None;
        }
        self.string(d, key)
    }

    /// An optional non-negative integer.
    pub(crate) fn uint(&self, d: &mut Diagnostics, key: &str) -> Option<At<u64>> {
        let v = self.get(key)?;
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => {
                u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
            }
            _ => None,
        };
        match parsed {
            Some(n) => Some(At {
                value: n,
                span: v.span(),
            }),
            None => {
                self.type_error(d, key, v, "a non-negative integer");
                None
            }
        }
    }

    /// An optional boolean.
    pub(crate) fn boolean(&self, d: &mut Diagnostics, key: &str) -> Option<At<bool>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(At {
                value: *b,
                span: v.span(),
            }),
            _ => {
                self.type_error(d, key, v, "true or false");
                None
            }
        }
    }

    /// A string or a list of strings.
    pub(crate) fn strings(&self, d: &mut Diagnostics, key: &str) -> Option<Vec<At<String>>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(vec![At {
                value: s.to_string(),
                span: v.span(),
            }]),
            DeValue::Array(a) => {
                let mut out = Vec::new();
                for item in a.iter() {
                    if let DeValue::String(s) = item.get_ref() {
                        out.push(At {
                            value: s.to_string(),
                            span: item.span(),
                        });
                    } else {
                        d.error(
                            self.src,
                            item.span(),
                            "wrong_type",
                            format!("every entry of `{key}` must be a string"),
                        );
                    }
                }
                Some(out)
            }
            _ => {
                self.type_error(d, key, v, "a string or a list of strings");
                None
            }
        }
    }

    /// An optional sub-table.
    pub(crate) fn table(
        &self,
        d: &mut Diagnostics,
        key: &str,
        what: impl Into<String>,
        known: &'static [&'static str],
    ) -> Option<Self> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(TableReader::new(self.src, t, v.span(), what, known)),
            _ => {
                self.type_error(d, key, v, "a table");
                None
            }
        }
    }

    /// A value that is either a string or a table (`key = "x"` or `key = { … }`): `Ok` with the
    /// string, `Err` with a reader for the table.
    pub(crate) fn string_or_table(
        &self,
        d: &mut Diagnostics,
        key: &str,
        what: &str,
        known: &'static [&'static str],
    ) -> Option<Result<At<String>, Self>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Ok(At {
                value: s.to_string(),
                span: v.span(),
            })),
            DeValue::Table(t) => Some(Err(TableReader::new(
                self.src,
                t,
                v.span(),
                format!("`{key}` in {what}"),
                known,
            ))),
            _ => {
                self.type_error(
                    d,
                    key,
                    v,
                    "an action name or a table such as { action = \"mask\", keep_last = 4 }",
                );
                None
            }
        }
    }

    /// A table whose keys are data, not names (`{ "gzip-js" = "gzip", … }`): every entry
    /// as (key, string value), in file order.
    pub(crate) fn string_map(
        &self,
        d: &mut Diagnostics,
        key: &str,
    ) -> Option<Vec<(At<String>, At<String>)>> {
        let v = self.get(key)?;
        let DeValue::Table(t) = v.get_ref() else {
            self.type_error(d, key, v, "a table of strings");
            return None;
        };
        let mut out = Vec::new();
        for (k, item) in t.iter() {
            let name = At {
                value: k.get_ref().to_string(),
                span: k.span(),
            };
            match item.get_ref() {
                DeValue::String(s) => out.push((
                    name,
                    At {
                        value: s.to_string(),
                        span: item.span(),
                    },
                )),
                _ => {
                    d.error(
                        self.src,
                        item.span(),
                        "wrong_type",
                        format!("every entry of `{key}` in {} must be a string", self.what),
                    );
                }
            }
        }
        out.sort_by_key(|(k, _)| k.span.start);
        Some(out)
    }

    /// An array of tables (`[[key]]`); absent means empty.
    pub(crate) fn tables(
        &self,
        d: &mut Diagnostics,
        key: &str,
        what: &str,
        known: &'static [&'static str],
    ) -> Vec<Self> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(a) = v.get_ref() else {
            self.type_error(d, key, v, &format!("an array of tables (`[[{key}]]`)"));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in a.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(t) => out.push(TableReader::new(
                    self.src,
                    t,
                    item.span(),
                    format!("{what} #{}", i + 1),
                    known,
                )),
                _ => {
                    d.error(
                        self.src,
                        item.span(),
                        "wrong_type",
                        format!("every `{key}` entry must be a table"),
                    );
                }
            }
        }
        out
    }

    /// Renames how the table is called in messages (once its `name` is known).
    pub(crate) fn rename(&mut self, what: impl Into<String>) {
        self.what = what.into();
    }

    /// Reports every key that is not in the known list.
    pub(crate) fn finish(&self, d: &mut Diagnostics) {
        for (k, _) in self.table.iter() {
            let key: &str = k.get_ref();
            if !self.known.contains(&key) {
                let diag = d.error(
                    self.src,
                    k.span(),
                    "unknown_key",
                    format!("unknown key `{key}` in {}", self.what),
                );
                match did_you_mean(key, self.known) {
                    Some(s) => diag.help(format!("did you mean `{s}`?")),
                    None => diag.help(format!("expected one of: {}", self.known.join(", "))),
                };
            }
        }
    }
}
