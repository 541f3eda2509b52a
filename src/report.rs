//! The disclosure report: what the ledger holds, shaped for a privacy officer.
//!
//! [`Report::build`] turns a [`LedgerReport`] (counts per route, purpose, category and
//! treatment; fields detection found) into three views, served as JSON (`GET /v1/report`)
//! and as a server-rendered HTML page (`GET /report`, [`Report::to_html`]):
//!
//! - **per recipient**: each route, its declared purpose, and per CCPA category how many values
//!   left in clear, pseudonymised, encrypted, … or were withheld (redacted, dropped);
//! - **undeclared fields**: where detection found personal data no rule names — path, class,
//!   count, first and last seen;
//! - **the notice table**, in the shape of a CCPA privacy-policy disclosure (Cal. Civ. Code
//!   §1798.130(a)(5)(C), §1798.115(c)): per category A–K, the recipients it was *disclosed to for
//!   a business purpose* and those it was *sold or shared with* in the period.
//!
//! Mapping decisions (also in README): a route whose `purpose` is `sale_or_share` or
//! `marketing` counts as "sold or shared" (cross-context behavioural advertising is sharing
//! under §1798.140(ah)); `analytics` and `processor` count as disclosures for a business
//! purpose. A category counts as disclosed when some value of it left in any form other than
//! `redacted` or `dropped`: pseudonymised and encrypted values are still personal information
//! of the person. Opt-out signals are counted per request, not per value.
//!
//! The ledger never holds values and the HTML escapes everything it prints, so the page is
//! safe to render whatever route names or field paths contain.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::detect::{Category, Class};
use crate::policy::Treatment;
use crate::policy::disclosure::UNCLASSIFIED;
use crate::store::{Day, LedgerReport};

/// The ledger category of opt-out signal counts (requests, not values).
pub const OPT_OUT_CATEGORY: &str = "opt_out";

/// The report, ready to serialise or render.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// First day included (UTC), `YYYY-MM-DD`.
    pub from: String,
    /// Last day included (UTC), `YYYY-MM-DD`.
    pub to: String,
    /// Per recipient route: purposes and categories received, and how.
    pub recipients: Vec<Recipient>,
    /// Fields no rule names where detection found personal data.
    pub undeclared_fields: Vec<UndeclaredField>,
    /// The CCPA-shaped notice table, categories A to K.
    pub notice: Vec<NoticeRow>,
    /// The ledger rows the views were built from.
    pub disclosures: Vec<crate::store::DisclosureRow>,
}

/// One recipient (route).
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// Route name.
    pub route: String,
    /// Declared purposes seen in the period (a route's purpose can change between configs).
    pub purposes: Vec<String>,
    /// Per category received (CCPA categories in letter order, then `unclassified`).
    pub categories: Vec<CategoryUse>,
    /// Requests that carried an opt-out signal, by what the route did: `blocked`, `strict`,
    /// `ignored`.
    pub opt_out: BTreeMap<String, u64>,
}

/// How one category reached one recipient.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryUse {
    /// The ledger label (`identifiers`, …, or `unclassified`).
    pub category: String,
    /// The statute's letter (`A`–`K`), empty for `unclassified`.
    pub letter: String,
    /// The statute's title.
    pub title: String,
    /// Values per treatment (`clear`, `tokenized`, …).
    pub treatments: BTreeMap<String, u64>,
    /// Values that reached the recipient in some form (every treatment but redacted and
    /// dropped).
    pub disclosed: u64,
    /// Values redacted or dropped.
    pub withheld: u64,
}

/// A field detection found.
#[derive(Debug, Clone, Serialize)]
pub struct UndeclaredField {
    /// Route.
    pub route: String,
    /// Normalised path (`$.batch[*].properties.contact_email`, `form:email`).
    pub field_path: String,
    /// Detected class (`email`, …).
    pub class: String,
    /// Its CCPA category letter.
    pub letter: String,
    /// Whether the class is sensitive personal information (§1798.140(ae)).
    pub sensitive: bool,
    /// Values seen.
    pub count: u64,
    /// First sighting, `YYYY-MM-DD HH:MM:SS` UTC.
    pub first_seen: String,
    /// Last sighting, `YYYY-MM-DD HH:MM:SS` UTC.
    pub last_seen: String,
}

/// One row of the notice table.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeRow {
    /// `A`–`K`.
    pub letter: String,
    /// The statute's title.
    pub title: String,
    /// Recipients it was disclosed to for a business purpose (`analytics`, `processor`).
    pub business_purpose: Vec<String>,
    /// Recipients it was sold to or shared with (`sale_or_share`, `marketing`).
    pub sold_or_shared: Vec<String>,
}

/// Why a date range was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not `YYYY-MM-DD`, or not a calendar date.
    #[error("dates must be YYYY-MM-DD calendar dates")]
    BadDate,
}

// === impl Report ===

impl Report {
    /// Builds the views from ledger totals.
    pub fn build(ledger: &LedgerReport) -> Self {
        let mut recipients: BTreeMap<&str, Recipient> = BTreeMap::new();
        let mut notice: BTreeMap<Category, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for row in &ledger.disclosures {
            let r = recipients.entry(&row.route).or_insert_with(|| Recipient {
                route: row.route.clone(),
                purposes: Vec::new(),
                categories: Vec::new(),
                opt_out: BTreeMap::new(),
            });
            if !r.purposes.contains(&row.purpose) {
                r.purposes.push(row.purpose.clone());
            }
            if row.category == OPT_OUT_CATEGORY {
                *r.opt_out.entry(row.treatment.clone()).or_insert(0) += row.count;
                continue;
            }
            let category = Category::ALL
                .into_iter()
                .find(|c| c.as_str() == row.category);
            let use_ = match r.categories.iter_mut().find(|c| c.category == row.category) {
                Some(u) => u,
                None => {
                    r.categories.push(CategoryUse {
                        category: row.category.clone(),
                        letter: category.map(|c| c.letter().to_string()).unwrap_or_default(),
                        title: category
                            .map_or("Unclassified values", Category::title)
                            .to_owned(),
                        treatments: BTreeMap::new(),
                        disclosed: 0,
                        withheld: 0,
                    });
                    r.categories.last_mut().expect("just pushed")
                }
            };
            *use_.treatments.entry(row.treatment.clone()).or_insert(0) += row.count;
            let discloses = Treatment::parse(&row.treatment).is_none_or(Treatment::discloses);
            if discloses {
                use_.disclosed += row.count;
            } else {
                use_.withheld += row.count;
            }
            if let Some(c) = category
                && discloses
                && row.count > 0
            {
                let (business, sold) = notice.entry(c).or_default();
                let list = if sells(&row.purpose) { sold } else { business };
                if !list.contains(&row.route) {
                    list.push(row.route.clone());
                }
            }
        }
        let mut recipients: Vec<Recipient> = recipients.into_values().collect();
        for r in &mut recipients {
            // Letters first (A–K), `unclassified` last.
            r.categories.sort_by(|a, b| {
                (a.letter.is_empty(), &a.letter).cmp(&(b.letter.is_empty(), &b.letter))
            });
        }
        let undeclared_fields = ledger
            .fields
            .iter()
            .map(|f| {
                let class = f.class.parse::<Class>().ok();
                UndeclaredField {
                    route: f.route.clone(),
                    field_path: f.field_path.clone(),
                    class: f.class.clone(),
                    letter: class
                        .map(|c| c.category().letter().to_string())
                        .unwrap_or_default(),
                    sensitive: class
                        .is_some_and(|c| c.sensitivity() == crate::detect::Sensitivity::Sensitive),
                    count: f.count,
                    first_seen: datetime(f.first_seen),
                    last_seen: datetime(f.last_seen),
                }
            })
            .collect();
        let notice = Category::ALL
            .into_iter()
            .map(|c| {
                let (mut business, mut sold) = notice.remove(&c).unwrap_or_default();
                business.sort();
                sold.sort();
                NoticeRow {
                    letter: c.letter().to_string(),
                    title: c.title().to_owned(),
                    business_purpose: business,
                    sold_or_shared: sold,
                }
            })
            .collect();
        Self {
            from: date(ledger.from),
            to: date(ledger.to),
            recipients,
            undeclared_fields,
            notice,
            disclosures: ledger.disclosures.clone(),
        }
    }

    /// The report as one self-contained HTML page: no scripts, no external assets, every
    /// dynamic string escaped.
    pub(crate) fn to_html(&self) -> String {
        let mut h = String::with_capacity(16 * 1024);
        let _ = writeln!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>piigate disclosure report {} to {}</title>\n<style>{}</style>\n</head>\n<body>",
            esc(&self.from),
            esc(&self.to),
            CSS
        );
        let _ = writeln!(
            h,
            "<header><h1>Disclosure report</h1><p class=\"period\">{} to {} (UTC days). \
             Counts of values, never the values: piigate keeps no personal data in this record.</p></header>",
            esc(&self.from),
            esc(&self.to)
        );
        self.html_notice(&mut h);
        self.html_recipients(&mut h);
        self.html_fields(&mut h);
        self.html_opt_out(&mut h);
        h.push_str(
            "<footer><p>Treatments: <b>clear</b> forwarded unchanged; <b>tokenized</b> keyed \
             pseudonym; <b>encrypted</b> envelope or format-preserving ciphertext only we can \
             open; <b>hashed</b> SHA-256 for matching; <b>masked</b> partly starred; \
             <b>generalized</b> coarsened; <b>redacted</b> and <b>dropped</b> did not reach the \
             recipient. JSON: <code>GET /v1/report?from=YYYY-MM-DD&amp;to=YYYY-MM-DD</code>.</p></footer>\n",
        );
        h.push_str("</body>\n</html>\n");
        h
    }

    fn html_notice(&self, h: &mut String) {
        h.push_str(
            "<section id=\"notice\"><h2>Categories of personal information disclosed</h2>\n\
             <p>In the shape of a CCPA privacy-notice disclosure: in the period above, the \
             categories of personal information disclosed for a business purpose, and sold or \
             shared, and to which recipients.</p>\n<table class=\"notice\">\n<thead><tr>\
             <th scope=\"col\">Category</th><th scope=\"col\">Disclosed for a business purpose</th>\
             <th scope=\"col\">Sold or shared</th></tr></thead>\n<tbody>\n",
        );
        for row in &self.notice {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\"><span class=\"letter\">{}</span> {}</th><td>{}</td><td>{}</td></tr>",
                esc(&row.letter),
                esc(&row.title),
                yes_no(&row.business_purpose),
                yes_no(&row.sold_or_shared)
            );
        }
        h.push_str("</tbody>\n</table>\n");
        let unclassified: u64 = self
            .recipients
            .iter()
            .flat_map(|r| &r.categories)
            .filter(|c| c.category == UNCLASSIFIED)
            .map(|c| c.disclosed)
            .sum();
        if unclassified > 0 {
            let _ = writeln!(
                h,
                "<p class=\"note\">{unclassified} disclosed values came from rules whose class \
                 piigate could not tell; they are not in this table. Name it with \
                 <code>class = \"…\"</code> on those rules.</p>"
            );
        }
        h.push_str("</section>\n");
    }

    fn html_recipients(&self, h: &mut String) {
        h.push_str("<section id=\"recipients\"><h2>What each recipient received, and how</h2>\n");
        if self.recipients.is_empty() {
            h.push_str("<p class=\"empty\">Nothing was recorded in this period.</p>\n");
        }
        let columns = Treatment::ALL;
        for r in &self.recipients {
            let _ = write!(
                h,
                "<h3>{} <span class=\"purpose\">{}</span></h3>\n<table class=\"recipient\">\n\
                 <thead><tr><th scope=\"col\">Category</th>",
                esc(&r.route),
                esc(&r.purposes.join(", "))
            );
            for t in columns {
                let _ = write!(h, "<th scope=\"col\" class=\"num\">{}</th>", t.as_str());
            }
            h.push_str("</tr></thead>\n<tbody>\n");
            if r.categories.is_empty() {
                let _ = writeln!(
                    h,
                    "<tr><td colspan=\"{}\" class=\"empty\">No values recorded.</td></tr>",
                    columns.len() + 1
                );
            }
            for c in &r.categories {
                let label = if c.letter.is_empty() {
                    esc(&c.title)
                } else {
                    format!(
                        "<span class=\"letter\">{}</span> {}",
                        esc(&c.letter),
                        esc(&c.title)
                    )
                };
                let _ = write!(h, "<tr><th scope=\"row\">{label}</th>");
                for t in columns {
                    let n = c.treatments.get(t.as_str()).copied().unwrap_or(0);
                    let class = if n == 0 {
                        "num zero"
                    } else if t == Treatment::Clear {
                        "num clear"
                    } else {
                        "num"
                    };
                    let _ = write!(h, "<td class=\"{class}\">{n}</td>");
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody>\n</table>\n");
        }
        h.push_str("</section>\n");
    }

    fn html_fields(&self, h: &mut String) {
        h.push_str(
            "<section id=\"fields\"><h2>Undeclared fields found by detection</h2>\n\
             <p>Personal data in fields no rule names (routes with <code>detect</code>). Array \
             positions are shown as <code>[*]</code>, names that may be data as <code>*</code>.</p>\n\
             <table class=\"fields\">\n<thead><tr><th scope=\"col\">Recipient</th>\
             <th scope=\"col\">Field path</th><th scope=\"col\">Class</th>\
             <th scope=\"col\">Category</th><th scope=\"col\" class=\"num\">Values</th>\
             <th scope=\"col\">First seen (UTC)</th><th scope=\"col\">Last seen (UTC)</th></tr></thead>\n<tbody>\n",
        );
        if self.undeclared_fields.is_empty() {
            h.push_str(
                "<tr><td colspan=\"7\" class=\"empty\">None found in this period.</td></tr>\n",
            );
        }
        for f in &self.undeclared_fields {
            let sensitive = if f.sensitive {
                " <span class=\"tag\">sensitive</span>"
            } else {
                ""
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}{sensitive}</td><td>{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.route),
                esc(&f.field_path),
                esc(&f.class),
                esc(&f.letter),
                f.count,
                esc(&f.first_seen),
                esc(&f.last_seen)
            );
        }
        h.push_str("</tbody>\n</table>\n</section>\n");
    }

    fn html_opt_out(&self, h: &mut String) {
        h.push_str(
            "<section id=\"opt-out\"><h2>Opt-out signals</h2>\n<p>Requests carrying \
             <code>Sec-GPC: 1</code> or <code>DNT: 1</code>, by what the route did: \
             <b>blocked</b> (nothing sent), <b>strict</b> (linkable identifiers dropped), \
             <b>ignored</b> (the route has no opt-out policy).</p>\n<table class=\"optout\">\n\
             <thead><tr><th scope=\"col\">Recipient</th><th scope=\"col\">Purpose</th>\
             <th scope=\"col\" class=\"num\">blocked</th><th scope=\"col\" class=\"num\">strict</th>\
             <th scope=\"col\" class=\"num\">ignored</th></tr></thead>\n<tbody>\n",
        );
        let mut any = false;
        for r in self.recipients.iter().filter(|r| !r.opt_out.is_empty()) {
            any = true;
            let n = |k: &str| r.opt_out.get(k).copied().unwrap_or(0);
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&r.route),
                esc(&r.purposes.join(", ")),
                n("blocked"),
                n("strict"),
                n("ignored")
            );
        }
        if !any {
            h.push_str(
                "<tr><td colspan=\"5\" class=\"empty\">No opt-out signals recorded.</td></tr>\n",
            );
        }
        h.push_str("</tbody>\n</table>\n</section>\n");
    }
}

/// Whether a purpose counts as selling or sharing in the notice table.
fn sells(purpose: &str) -> bool {
    matches!(purpose, "sale_or_share" | "marketing")
}

fn yes_no(recipients: &[String]) -> String {
    if recipients.is_empty() {
        "<span class=\"no\">No</span>".to_owned()
    } else {
        let names: Vec<String> = recipients.iter().map(|r| esc(r)).collect();
        format!(
            "<span class=\"yes\">Yes</span> <span class=\"who\">{}</span>",
            names.join(", ")
        )
    }
}

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
:root{color-scheme:light;--ink:#1d2330;--muted:#5b6475;--line:#d9dde5;--head:#f3f5f9;--accent:#2f5bd3;--warn:#a33d12}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ink);margin:0 auto;max-width:1180px;padding:24px 32px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:20px 0 6px}
p{margin:6px 0 10px;color:var(--muted)}
.period{font-size:15px}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:6px 9px;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600}
tbody th{font-weight:500}
.num{text-align:right}
.zero{color:#b3b9c4}
.clear{color:var(--warn);font-weight:600}
.letter{display:inline-block;min-width:1.5em;font-weight:700;color:var(--accent)}
.purpose{font-weight:400;color:var(--muted);font-size:13px;margin-left:6px}
.yes{font-weight:600;color:var(--warn)}
.no{color:var(--muted)}
.who{color:var(--ink)}
.tag{font-size:11px;border:1px solid var(--warn);color:var(--warn);border-radius:3px;padding:0 4px;margin-left:4px}
.empty{color:var(--muted);font-style:italic}
.note{border-left:3px solid var(--warn);padding-left:8px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--head);padding:1px 4px;border-radius:3px}
footer{margin-top:36px;border-top:1px solid var(--line);padding-top:8px;font-size:12.5px}
";

// === dates ===

/// Parses `YYYY-MM-DD` into a [`Day`].
///
/// # Errors
/// [`RangeError::BadDate`].
pub(crate) fn parse_day(s: &str) -> Result<Day, RangeError> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(RangeError::BadDate);
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, RangeError> {
        let part = s.get(r).ok_or(RangeError::BadDate)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(RangeError::BadDate);
        }
        part.parse().map_err(|_| RangeError::BadDate)
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    // `time` refuses month 0 or 13 and a day the month does not have (2023-02-29).
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or(RangeError::BadDate)?;
    let date = i32::try_from(y)
        .ok()
        .zip(u8::try_from(d).ok())
        .and_then(|(y, d)| time::Date::from_calendar_date(y, month, d).ok())
        .ok_or(RangeError::BadDate)?;
    Ok(Day::from_days_since_epoch(
        date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY,
    ))
}

/// The report range from optional `from`/`to` query values: default the last 12 months
/// (365 days ending today, UTC). `from` after `to` is an empty range, not an error.
///
/// # Errors
/// [`RangeError::BadDate`] for a value that is not a calendar date.
pub fn range(from: Option<&str>, to: Option<&str>, today: Day) -> Result<(Day, Day), RangeError> {
    let to = to.map(parse_day).transpose()?.unwrap_or(today);
    let from = from.map(parse_day).transpose()?.unwrap_or(to.minus(364));
    Ok((from, to))
}

/// The Julian day number of 1970-01-01, where [`Day`] counts from.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// `YYYY-MM-DD` of a day.
pub fn date(day: Day) -> String {
    match time::Date::from_julian_day(day.days_since_epoch() + UNIX_EPOCH_JULIAN_DAY) {
        Ok(d) => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
        // Beyond ±9999 years: no day the ledger records or a range can name.
        Err(_) => format!("day {}", day.days_since_epoch()),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of Unix seconds.
pub(crate) fn datetime(secs: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{secs} s since 1970"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DisclosureRow, FieldRow};

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "2026-11-22",
            "2100-03-01",
        ] {
            assert_eq!(date(parse_day(s).expect(s)), s);
        }
        assert_eq!(parse_day("1970-01-02").map(Day::days_since_epoch), Ok(1));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "24-01-01",
            "2024-1-01",
            "x",
            "2024-01-32",
            "+024-01-01",
        ] {
            assert_eq!(parse_day(bad), Err(RangeError::BadDate), "{bad}");
        }
        assert_eq!(datetime(86_400 + 3661), "1970-01-02 01:01:01");
        let today = parse_day("2026-11-22").expect("day");
        let (from, to) = range(None, None, today).expect("default");
        assert_eq!(
            (date(from), date(to)),
            ("2025-11-23".to_owned(), "2026-11-22".to_owned())
        );
        assert_eq!(
            parse_day("0000-03-01").map(date),
            Ok("0000-03-01".to_owned())
        );
    }

    fn row(
        route: &str,
        purpose: &str,
        category: &str,
        treatment: &str,
        count: u64,
    ) -> DisclosureRow {
        DisclosureRow {
            route: route.into(),
            purpose: purpose.into(),
            category: category.into(),
            treatment: treatment.into(),
            count,
        }
    }

    #[test]
    fn views_and_notice_follow_purposes_and_treatments() {
        let ledger = LedgerReport {
            from: Day::from_days_since_epoch(0),
            to: Day::from_days_since_epoch(10),
            disclosures: vec![
                row("ads", "marketing", "identifiers", "hashed", 5),
                row("ads", "marketing", "opt_out", "blocked", 2),
                row("seg", "analytics", "customer_records", "redacted", 3),
                row("seg", "analytics", "identifiers", "tokenized", 7),
                row("seg", "analytics", "unclassified", "clear", 1),
            ],
            fields: vec![FieldRow {
                route: "seg".into(),
                field_path: "$.p.<b>".into(),
                class: "ssn".into(),
                count: 4,
                first_seen: 0,
                last_seen: 60,
            }],
        };
        let r = Report::build(&ledger);
        let a = &r.notice[0];
        assert_eq!(
            (a.letter.as_str(), &a.business_purpose, &a.sold_or_shared),
            ("A", &vec!["seg".to_owned()], &vec!["ads".to_owned()])
        );
        // Redacted phones never reached `seg`: category B is not disclosed.
        assert!(r.notice[1].business_purpose.is_empty());
        let seg = &r.recipients[1];
        assert_eq!(
            seg.categories.last().map(|c| c.category.as_str()),
            Some("unclassified")
        );
        assert_eq!(seg.categories[1].withheld, 3);
        assert_eq!(r.recipients[0].opt_out["blocked"], 2);
        assert!(r.undeclared_fields[0].sensitive);
        let html = r.to_html();
        assert!(html.contains("<code>$.p.&lt;b&gt;</code>"), "escaped");
        assert!(!html.contains("$.p.<b>"));
        for id in ["notice", "recipients", "fields", "opt-out"] {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
    }
}
