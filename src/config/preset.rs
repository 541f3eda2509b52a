//! Vendor presets: a documented rule set per vendor ingestion API, named by a route
//! (`preset = "segment"`) and expanded into the route's own spec before it is compiled.
//!
//! A preset is data, kept in one place: `presets/<name>.toml`, embedded in the binary and
//! read by the same spanned reader as `proxy.toml` (rules, `detect_actions`, every option),
//! so a problem in a preset is a located diagnostic in that file and a test loads every preset
//! with zero diagnostics. Every rule of a preset says `why`.
//!
//! **Precedence.** The expansion is the route's own rules first, then the preset's, so the
//! route wins wherever the two meet:
//!
//! 1. a preset selector written the same way as a selector of one of the route's rules (the
//!    same JSONPath, the same field) is removed from the expansion: the route's rule replaces
//!    it (`action = "keep"` forwards that field unchanged);
//! 2. for a value both select otherwise, the first rule wins (the engine's rule), which is the
//!    route's;
//! 3. a rule on an object covers its whole subtree (the engine's rule): a preset rule on
//!    `$..traits.address` decides `$..traits.address.city` even when the route names the
//!    child. To treat one child of a preset's object differently, override the object's
//!    selector (rule 1) and list its children;
//! 4. route keys the preset also sets (`purpose`, `detect`) are the route's; `detect_actions`
//!    merge per class, the route's entry first. A preset's `detect_actions` apply only where
//!    the expanded route enforces detection.
//!
//! `piigate check --config proxy.toml --expand ROUTE` prints the expansion.

use std::fmt::Write as _;

use toml::de::DeTable;

use super::diag::{Diagnostics, Source, did_you_mean};
use super::reader::{At, TableReader};
use super::spec::{
    BodyCodingSpec, DetectActionsSpec, OptionValue, RouteSpec, RuleSpec, read_body_coding,
    read_detect_actions, read_rules,
};

/// One embedded preset file.
#[derive(Debug)]
pub struct Preset {
    /// The name a route uses (`preset = "segment"`).
    pub name: &'static str,
    /// Where it lives in the repository, for diagnostics.
    pub file: &'static str,
    /// Its text.
    pub text: &'static str,
}

macro_rules! preset {
    ($name:literal) => {
        Preset {
            name: $name,
            file: concat!("presets/", $name, ".toml"),
            text: include_str!(concat!("../../presets/", $name, ".toml")),
        }
    };
}

/// Every preset, by name.
pub const PRESETS: &[Preset] = &[
    preset!("amplitude"),
    preset!("ga4"),
    preset!("meta_capi"),
    preset!("mixpanel"),
    preset!("posthog"),
    preset!("rudderstack"),
    preset!("segment"),
    preset!("sendgrid"),
    preset!("snowplow"),
    preset!("stripe"),
];

/// The preset called `name`.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Preset {
    /// The file as a diagnostics source.
    pub fn source(&self) -> Source<'static> {
        Source {
            name: self.file,
            text: self.text,
        }
    }
}

/// A preset file, read.
#[derive(Debug, Clone)]
pub struct PresetSpec {
    /// `name`: must be the file's name.
    pub name: Option<At<String>>,
    /// `title`: the vendor and API, one line.
    pub title: Option<At<String>>,
    /// `sources`: where the API shape comes from (SDK package, version and file; API docs).
    pub sources: Vec<At<String>>,
    /// `endpoints`: the requests the rules are written for.
    pub endpoints: Vec<At<String>>,
    /// `purpose`: the route's default purpose.
    pub purpose: Option<At<String>>,
    /// `detect`: the route's default detection mode.
    pub detect: Option<At<String>>,
    /// `[detect_actions]`.
    pub detect_actions: Option<DetectActionsSpec>,
    /// `[body_coding]`: how the vendor's SDK codes bodies outside `Content-Encoding`.
    pub body_coding: Option<BodyCodingSpec>,
    /// `[[rules]]`, each with its `origin` set to the preset.
    pub rules: Vec<RuleSpec>,
}

const TOP: &[&str] = &[
    "name",
    "title",
    "sources",
    "endpoints",
    "purpose",
    "detect",
    "detect_actions",
    "body_coding",
    "rules",
];

/// Reads an embedded preset, recording every problem (located in the preset file) in `d`.
pub fn read(p: &'static Preset, d: &mut Diagnostics) -> PresetSpec {
    let src = p.source();
    let (doc, errors) = DeTable::parse_recoverable(src.text);
    let mut spec = PresetSpec {
        name: None,
        title: None,
        sources: Vec::new(),
        endpoints: Vec::new(),
        purpose: None,
        detect: None,
        detect_actions: None,
        body_coding: None,
        rules: Vec::new(),
    };
    for e in &errors {
        d.error(
            src,
            e.span().unwrap_or(0..0),
            "invalid_toml",
            format!("invalid TOML: {}", e.message().trim()),
        );
    }
    if !errors.is_empty() {
        return spec;
    }
    let top = TableReader::new(src, doc.get_ref(), doc.span(), "the preset", TOP);
    top.finish(d);
    spec.name = top.required_string(d, "name");
    spec.title = top.required_string(d, "title");
    spec.sources = top.strings(d, "sources").unwrap_or_default();
    spec.endpoints = top.strings(d, "endpoints").unwrap_or_default();
    spec.purpose = top.string(d, "purpose");
    spec.detect = top.string(d, "detect");
    spec.detect_actions = read_detect_actions(&top, d);
    spec.body_coding = read_body_coding(&top, d, "[body_coding]").map(|mut b| {
        b.origin = Some(src);
        b
    });
    spec.rules = read_rules(&top, d, "rules", "[[rules]]");

    if let Some(n) = &spec.name
        && n.value != p.name
    {
        d.error(
            src,
            n.span.clone(),
            "bad_value",
            format!("the preset in {} must be named `{}`", p.file, p.name),
        );
    }
    if spec.sources.is_empty() {
        d.error(
            src,
            top.span.clone(),
            "missing_key",
            "a preset names the `sources` of the API shape it covers",
        );
    }
    if let Some(v) = &spec.purpose
        && !matches!(
            v.value.as_str(),
            "analytics" | "marketing" | "processor" | "sale_or_share"
        )
    {
        d.error(
            src,
            v.span.clone(),
            "bad_value",
            "`purpose` must be one of analytics, marketing, sale_or_share, processor",
        );
    }
    if let Some(v) = &spec.detect
        && !matches!(v.value.as_str(), "off" | "observe" | "enforce")
    {
        d.error(
            src,
            v.span.clone(),
            "bad_value",
            "`detect` must be \"off\", \"observe\" or \"enforce\"",
        );
    }
    for rule in &mut spec.rules {
        if rule.why.as_ref().is_none_or(|w| w.value.trim().is_empty()) {
            d.error(
                src,
                rule.span.clone(),
                "missing_key",
                "every preset rule says `why`: what the field is and why it gets this treatment",
            );
        }
        rule.origin = Some(src);
    }
    if let Some(t) = &mut spec.detect_actions {
        for (_, rule) in &mut t.entries {
            rule.origin = Some(src);
        }
    }
    spec
}

/// A preset selector the route's own rule replaced.
#[derive(Debug, Clone)]
pub struct Overridden {
    /// The preset's selector, as written.
    pub selector: At<String>,
    /// The route rule that replaced it (span in the config file).
    pub by: std::ops::Range<usize>,
}

/// A route with its preset expanded: the spec that is compiled.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// The merged route: its own rules first, then the preset's not overridden.
    pub route: RouteSpec,
    /// The preset, when the route names one that exists.
    pub preset: Option<(&'static Preset, PresetSpec)>,
    /// How many of `route.rules` are the route's own (the rest are the preset's).
    pub own_rules: usize,
    /// Preset selectors the route replaced.
    pub overridden: Vec<Overridden>,
    /// `purpose` is the preset's (the route sets none).
    pub purpose_from_preset: bool,
    /// `detect` is the preset's (the route sets none).
    pub detect_from_preset: bool,
}

/// Expands the route's preset (if any). An unknown preset name is an error at `preset`.
pub fn expand(r: &RouteSpec, src: Source<'_>, d: &mut Diagnostics) -> Expansion {
    let mut out = Expansion {
        route: r.clone(),
        preset: None,
        own_rules: r.rules.len(),
        overridden: Vec::new(),
        purpose_from_preset: false,
        detect_from_preset: false,
    };
    let Some(name) = &r.preset else {
        return out;
    };
    let Some(p) = find(&name.value) else {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        let diag = d.error(
            src,
            name.span.clone(),
            "bad_value",
            format!("there is no preset `{}`", name.value),
        );
        match did_you_mean(&name.value, &names) {
            Some(s) => diag.help(format!("did you mean `{s}`?")),
            None => diag.help(format!("one of: {}", names.join(", "))),
        };
        return out;
    };
    let spec = read(p, d);
    let route = &mut out.route;
    if route.purpose.is_none() && spec.purpose.is_some() {
        route.purpose.clone_from(&spec.purpose);
        out.purpose_from_preset = true;
    }
    if route.detect.is_none() && spec.detect.is_some() {
        route.detect.clone_from(&spec.detect);
        out.detect_from_preset = true;
    }
    // The route's own table replaces the preset's whole: its values are one vendor's protocol.
    if route.body_coding.is_none() && spec.body_coding.is_some() {
        route.body_coding.clone_from(&spec.body_coding);
    }
    let enforced = route.detect.as_ref().is_some_and(|v| v.value == "enforce");
    if let (true, Some(preset_actions)) = (enforced, &spec.detect_actions) {
        match &mut route.detect_actions {
            None => route.detect_actions = Some(preset_actions.clone()),
            Some(own) => {
                let extra: Vec<_> = preset_actions
                    .entries
                    .iter()
                    .filter(|(k, _)| !own.entries.iter().any(|(o, _)| o.value == k.value))
                    .cloned()
                    .collect();
                own.entries.extend(extra);
            }
        }
    }
    // The route's own selectors, canonical, with the rule each belongs to.
    let own: Vec<(Canonical, std::ops::Range<usize>)> = r
        .rules
        .iter()
        .flat_map(|rule| {
            rule.select
                .iter()
                .map(|s| (canonical(&s.value), rule.span.clone()))
        })
        .collect();
    for rule in &spec.rules {
        let mut kept = rule.clone();
        kept.select.retain(|s| {
            let c = canonical(&s.value);
            match own.iter().find(|(o, _)| *o == c) {
                Some((_, by)) => {
                    out.overridden.push(Overridden {
                        selector: s.clone(),
                        by: by.clone(),
                    });
                    false
                }
                None => true,
            }
        });
        if !kept.select.is_empty() {
            out.route.rules.push(kept);
        }
    }
    out.preset = Some((p, spec));
    out
}

/// A selector reduced to what it selects, so the same selector written two ways compares
/// equal (`$.a.b` and `$['a']['b']`; header names in any case).
#[derive(Debug, PartialEq, Eq)]
enum Canonical {
    Json(crate::policy::JsonPath),
    Field {
        kind: String,
        name: String,
        json: Option<crate::policy::JsonPath>,
    },
    /// Not parseable: compared as written (compile reports the problem).
    Text(String),
}

fn canonical(sel: &str) -> Canonical {
    let text = sel.trim();
    let json = |p: &str| crate::policy::selector::parse(p.trim()).ok();
    if text.starts_with('$') {
        return json(text).map_or_else(|| Canonical::Text(text.to_owned()), Canonical::Json);
    }
    let Some((kind, rest)) = text.split_once(':') else {
        return Canonical::Text(text.to_owned());
    };
    let (name, path) = match rest.split_once("=>") {
        Some((n, p)) => match json(p) {
            Some(p) => (n, Some(p)),
            None => return Canonical::Text(text.to_owned()),
        },
        None => (rest, None),
    };
    let name = name.trim();
    Canonical::Field {
        kind: kind.to_owned(),
        name: if kind == "header" {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        },
        json: path,
    }
}

// === rendering (`piigate check --expand`) ===

impl Expansion {
    /// The expanded route as `proxy.toml` text: the keys the preset set, `detect_actions`
    /// and every rule in the order it applies, each annotated with where it was written and
    /// why. `src` is the config file the route is in.
    pub fn render(&self, src: Source<'_>) -> String {
        let mut s = String::new();
        let r = &self.route;
        let name = r.name.as_ref().map_or("?", |n| n.value.as_str());
        let _ = writeln!(s, "# route `{name}`, expanded");
        match &self.preset {
            Some((p, spec)) => {
                let _ = writeln!(
                    s,
                    "# preset `{}` ({}): {}",
                    p.name,
                    p.file,
                    spec.title.as_ref().map_or("", |t| t.value.as_str())
                );
                for src in &spec.sources {
                    let _ = writeln!(s, "#   source: {}", src.value);
                }
                for e in &spec.endpoints {
                    let _ = writeln!(s, "#   endpoint: {}", e.value);
                }
                let _ = writeln!(
                    s,
                    "# {} rule(s) of the route, then {} of the preset. The first rule that selects \
                     a value wins; a rule on an object covers everything beneath it.",
                    self.own_rules,
                    r.rules.len() - self.own_rules
                );
            }
            None => {
                let _ = writeln!(s, "# no preset: the route's own rules");
            }
        }
        let origin = |at: &std::ops::Range<usize>, from: Option<Source<'_>>| {
            let f = from.unwrap_or(src);
            let (line, col) = crate::keys::line_col(f.text, at.start);
            format!("{}:{line}:{col}", f.name)
        };
        let preset_src = self.preset.as_ref().map(|(p, _)| p.source());
        for (key, value, from_preset) in [
            ("purpose", &r.purpose, self.purpose_from_preset),
            ("detect", &r.detect, self.detect_from_preset),
        ] {
            if let Some(v) = value {
                let at = origin(&v.span, if from_preset { preset_src } else { None });
                let _ = writeln!(s, "{key} = {}  # {at}", quote(&v.value));
            }
        }
        if let Some(t) = &r.detect_actions {
            let _ = writeln!(s, "\n[routes.detect_actions]");
            for (k, rule) in &t.entries {
                let _ = writeln!(
                    s,
                    "{} = {{ {} }}  # {}",
                    k.value,
                    options(rule).join(", "),
                    origin(&k.span, rule.origin)
                );
            }
        }
        if let Some(b) = &r.body_coding {
            let _ = writeln!(s, "\n[routes.body_coding]  # {}", origin(&b.span, b.origin));
            if let Some(p) = &b.param {
                let _ = writeln!(s, "param = {}", quote(&p.value));
            }
            if !b.values.is_empty() {
                let v: Vec<String> = b
                    .values
                    .iter()
                    .map(|(k, v)| format!("{} = {}", quote(&k.value), quote(&v.value)))
                    .collect();
                let _ = writeln!(s, "values = {{ {} }}", v.join(", "));
            }
            if let Some(x) = &b.sniff {
                let _ = writeln!(s, "sniff = {}", quote(&x.value));
            }
            if let Some(x) = &b.text {
                let _ = writeln!(s, "text = {}", quote(&x.value));
            }
        }
        for (i, rule) in r.rules.iter().enumerate() {
            let _ = writeln!(
                s,
                "\n[[routes.rules]]  # {} ({})",
                origin(&rule.span, rule.origin),
                if i < self.own_rules {
                    "route"
                } else {
                    "preset"
                }
            );
            if let Some(why) = &rule.why {
                for line in wrap(&why.value, 92) {
                    let _ = writeln!(s, "# {line}");
                }
            }
            let sels: Vec<String> = rule.select.iter().map(|x| quote(&x.value)).collect();
            if sels.len() == 1 {
                let _ = writeln!(s, "select = {}", sels[0]);
            } else {
                let _ = writeln!(s, "select = [");
                for x in sels {
                    let _ = writeln!(s, "  {x},");
                }
                let _ = writeln!(s, "]");
            }
            for o in options(rule) {
                let _ = writeln!(s, "{o}");
            }
        }
        if !self.overridden.is_empty() {
            let _ = writeln!(s, "\n# preset selectors the route's own rules replace:");
            for o in &self.overridden {
                let _ = writeln!(
                    s,
                    "#   {} ({}) by the rule at {}",
                    quote(&o.selector.value),
                    origin(&o.selector.span, preset_src),
                    origin(&o.by, None)
                );
            }
        }
        s
    }
}

/// The reference section of docs/PRESETS.md for preset `p`: what it covers, where the API
/// shape comes from, its defaults and every rule as a table row (selectors, treatment, why).
/// A test keeps the document equal to this rendering, so the data has one home.
pub fn reference(p: &'static Preset) -> String {
    let mut d = Diagnostics::new();
    let spec = read(p, &mut d);
    let mut s = String::new();
    let title = spec.title.as_ref().map_or("", |t| t.value.as_str());
    let _ = writeln!(s, "`preset = \"{}\"` — {title} ({}).\n", p.name, p.file);
    let _ = writeln!(s, "Endpoints:\n");
    for e in &spec.endpoints {
        let _ = writeln!(s, "- {}", e.value);
    }
    let _ = writeln!(s, "\nSources of the API shape:\n");
    for src in &spec.sources {
        let _ = writeln!(s, "- {}", src.value);
    }
    let mut defaults = Vec::new();
    if let Some(v) = &spec.purpose {
        defaults.push(format!("`purpose = \"{}\"`", v.value));
    }
    if let Some(v) = &spec.detect {
        defaults.push(format!("`detect = \"{}\"`", v.value));
    }
    if let Some(t) = &spec.detect_actions {
        let entries: Vec<String> = t
            .entries
            .iter()
            .map(|(k, r)| format!("{} → {}", k.value, treatment(r)))
            .collect();
        defaults.push(format!("`detect_actions`: {}", entries.join("; ")));
    }
    if !defaults.is_empty() {
        let _ = writeln!(
            s,
            "\nDefaults (the route's own keys win): {}.",
            defaults.join(", ")
        );
    }
    if let Some(b) = &spec.body_coding {
        let param = b.param.as_ref().map_or("", |p| p.value.as_str());
        let mut how: Vec<String> = b
            .values
            .iter()
            .map(|(k, v)| format!("`{param}={}` → `{}`", k.value, v.value))
            .collect();
        if let Some(x) = &b.sniff {
            how.push(format!(
                "no `{param}` and a text body starting with gzip's magic bytes → `{}`",
                x.value
            ));
        }
        if let Some(x) = &b.text {
            how.push(format!(
                "a text body (`text/plain` or unlabelled) → `{}`",
                x.value
            ));
        }
        let _ = writeln!(
            s,
            "\nBody coding outside `Content-Encoding` (`[body_coding]`; a route's own table replaces it): {}.",
            how.join("; ")
        );
    }
    let _ = writeln!(s, "\n| selects | treatment | why |\n| --- | --- | --- |");
    for r in &spec.rules {
        let sels: Vec<String> = r
            .select
            .iter()
            .map(|x| format!("`{}`", x.value.replace('|', "\\|")))
            .collect();
        let why = r.why.as_ref().map_or("", |w| w.value.as_str());
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            sels.join(", "),
            treatment(r),
            why.replace('|', "\\|")
        );
    }
    s
}

/// `tokenize (normalize email)`, `generalize (to date/year)`.
fn treatment(r: &RuleSpec) -> String {
    let action = r.action.as_ref().map_or("?", |a| a.value.as_str());
    let opts: Vec<String> = r
        .options
        .iter()
        .map(|(name, v)| match v {
            OptionValue::Text(t) => format!("{name} {}", t.value),
            OptionValue::Uint(n) => format!("{name} {}", n.value),
            OptionValue::Bool(b) => format!("{name} {}", b.value),
        })
        .collect();
    if opts.is_empty() {
        action.to_owned()
    } else {
        format!("{action} ({})", opts.join(", "))
    }
}

/// A rule's action, its options (in the order they were written) and its class as
/// `key = value` strings.
fn options(r: &RuleSpec) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(a) = &r.action {
        v.push(format!("action = {}", quote(&a.value)));
    }
    let mut opts: Vec<&(&'static str, OptionValue)> = r.options.iter().collect();
    opts.sort_by_key(|(_, o)| o.span().start);
    for (name, value) in opts {
        v.push(match value {
            OptionValue::Text(t) => format!("{name} = {}", quote(&t.value)),
            OptionValue::Uint(n) => format!("{name} = {}", n.value),
            OptionValue::Bool(b) => format!("{name} = {}", b.value),
        });
    }
    if let Some(c) = &r.class {
        v.push(format!("class = {}", quote(&c.value)));
    }
    v
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Words of `text` in lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + w.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_reads_without_a_diagnostic() {
        for p in PRESETS {
            let mut d = Diagnostics::new();
            let spec = read(p, &mut d);
            assert!(d.items().is_empty(), "{}:\n{d}", p.file);
            assert!(!spec.rules.is_empty(), "{} has rules", p.file);
        }
    }

    static BROKEN: Preset = Preset {
        name: "broken",
        file: "presets/broken.toml",
        text: "name = \"broken\"\ntitle = \"t\"\nsources = [\"s\"]\ncolour = 1\n\n[[rules]]\nselect = \"$.a\"\naction = \"drop\"\n",
    };

    #[test]
    fn a_mistake_in_a_preset_is_located_in_the_preset_file() {
        let mut d = Diagnostics::new();
        let spec = read(&BROKEN, &mut d);
        let text = d.to_string();
        assert!(
            text.contains("presets/broken.toml:4:1: error[unknown_key]: unknown key `colour`"),
            "{text}"
        );
        assert!(
            text.contains(
                "presets/broken.toml:6:1: error[missing_key]: every preset rule says `why`"
            ),
            "{text}"
        );
        assert_eq!(
            spec.rules[0]
                .source(Source {
                    name: "proxy.toml",
                    text: ""
                })
                .name,
            BROKEN.file
        );
    }

    #[test]
    fn the_same_selector_written_two_ways_is_one() {
        assert_eq!(canonical("$.a.b"), canonical("$['a']['b']"));
        assert_eq!(canonical("header:X-Email"), canonical("header:x-email"));
        assert_eq!(
            canonical("form:data=>$..email"),
            canonical("form:data => $..['email']")
        );
        assert_ne!(canonical("form:email"), canonical("query:email"));
        assert_ne!(canonical("$..email"), canonical("$.email"));
    }
}
