//! `[routes.body_coding]`: codings a vendor signals outside `Content-Encoding`, compiled.
//!
//! posthog-js names its body's coding in a query parameter (`?compression=gzip-js`: a gzip
//! stream labelled `text/plain`; `?compression=base64`: a `sendBeacon` form whose `data` field
//! is base64 of the JSON batch), and its current releases send gzip `text/plain` with no
//! signal at all. A route says which values mean what; the proxy decodes accordingly, polices
//! the document with the route's own `$` rules and encodes it back the way it came. A form
//! layer is a [`Wrap`] around a fresh copy of the route's body plan, so the document inside the
//! field is policed exactly as the same document sent as a JSON body would be.

use crate::config::diag::{Diagnostics, Source};
use crate::config::spec::BodyCodingSpec;
use crate::policy::selector::{ChainStep, Place, parse_chain};
use crate::policy::{
    BodyCoding, BodyLayer, Coding, FieldPlan, FieldPlans, FieldRule, FieldTarget, FormDocument,
    Inner, Plan, TextBody, Unselected, Wrap,
};
use crate::rewrite::form::is_plain_name;

/// What compiling a form layer needs from the route: a fresh copy of its request body plan
/// (`true`: the opt-out variant), and how its form fields outside the layer are treated.
pub(super) struct Route<'m> {
    pub body_plan: &'m mut dyn FnMut(bool) -> Option<Plan>,
    /// The route compiles an opt-out (`on_opt_out = "strict"`) variant.
    pub strict: bool,
    pub form_unselected: &'m Unselected,
}

/// Compiles the table; `None` (with diagnostics) when it is wrong.
pub(super) fn compile(
    spec: &BodyCodingSpec,
    src: Source<'_>,
    route: &mut Route<'_>,
    d: &mut Diagnostics,
) -> Option<BodyCoding> {
    let src = spec.origin.unwrap_or(src);
    let errors = d.error_count();
    let mut out = BodyCoding::default();
    match (&spec.param, spec.values.is_empty()) {
        (Some(p), true) => {
            d.error(
                src,
                p.span.clone(),
                "missing_key",
                "`param` names the coding by its values: add `values`",
            )
            .help("e.g. values = { \"gzip-js\" = \"gzip\", base64 = \"form:data=>base64\" }");
        }
        (None, false) => {
            d.error(
                src,
                spec.span.clone(),
                "missing_key",
                "`values` are values of a query parameter: add `param`",
            )
            .help("e.g. param = \"compression\"");
        }
        (Some(p), false) if p.value.is_empty() || !is_plain_name(&p.value) => {
            d.error(
                src,
                p.span.clone(),
                "bad_value",
                "`param` must be a plain query parameter name",
            );
        }
        (Some(p), false) => out.param = Some(p.value.clone()),
        (None, true) => {}
    }
    for (value, meaning) in &spec.values {
        if out.values.iter().any(|(v, _)| *v == value.value) {
            d.error(
                src,
                value.span.clone(),
                "duplicate_key",
                format!("`{}` is listed twice", value.value),
            );
            continue;
        }
        let layer = match meaning.value.as_str() {
            "gzip" => BodyLayer::Gzip,
            "identity" => BodyLayer::Identity,
            text => match form_layer(text, route) {
                Ok(Some(doc)) => BodyLayer::Form(Box::new(doc)),
                // The body plan did not compile: its diagnostics are the route's.
                Ok(None) => return None,
                Err(message) => {
                    d.error(src, meaning.span.clone(), "bad_value", message)
                        .help("one of \"gzip\", \"identity\", \"form:NAME\", \"form:NAME=>base64\", \"form:NAME=>base64url\", \"form:NAME=>base64?\"");
                    continue;
                }
            },
        };
        out.values.push((value.value.clone(), layer));
    }
    match &spec.sniff {
        None => {}
        Some(s) if s.value == "gzip" => out.sniff_gzip = true,
        Some(s) => {
            d.error(
                src,
                s.span.clone(),
                "bad_value",
                "`sniff` recognises \"gzip\" (a text body starting with gzip's magic bytes)",
            );
        }
    }
    match &spec.text {
        None => {}
        Some(t) if t.value == "json" => out.text = TextBody::Json,
        Some(t) if t.value == "form_lines" => out.text = TextBody::FormLines,
        Some(t) => {
            d.error(
                src,
                t.span.clone(),
                "bad_value",
                "`text` is \"json\" (the default) or \"form_lines\" (one URL-encoded form per line)",
            );
        }
    }
    if spec.param.is_none() && spec.sniff.is_none() && spec.text.is_none() {
        d.error(
            src,
            spec.span.clone(),
            "missing_key",
            "`[routes.body_coding]` needs `param` and `values`, `sniff` or `text`",
        );
    }
    (d.error_count() == errors).then_some(out)
}

/// `form:NAME`, optionally followed by base64 codings: the form field the document is in.
fn form_layer(text: &str, route: &mut Route<'_>) -> Result<Option<FormDocument>, String> {
    let bad = || format!("`{text}` is not a body coding");
    let chain = parse_chain(&format!("{text}=>$")).map_err(|_| bad())?;
    let Place::Form(name) = &chain.place else {
        return Err(bad());
    };
    let mut codings = Vec::new();
    for (step, _) in &chain.steps {
        match step {
            ChainStep::Base64 { url_safe, or_json } => codings.push(Coding::Base64 {
                url_safe: *url_safe,
                or_json: *or_json,
            }),
            ChainStep::Json(path) if path.steps.is_empty() => {}
            _ => return Err(bad()),
        }
    }
    let mut plans = |strict: bool| -> Option<FieldPlans> {
        let wrap = Wrap {
            codings: codings.clone().into_boxed_slice(),
            inner: Inner::Json((route.body_plan)(strict)?),
        };
        Some(FieldPlans {
            form: FieldPlan {
                rules: vec![FieldRule {
                    name: name.as_str().into(),
                    target: FieldTarget::Wrapped(Box::new(wrap)),
                    class: None,
                }],
                unselected: route.form_unselected.clone(),
                others: None,
            },
            ..FieldPlans::default()
        })
    };
    let Some(normal) = plans(false) else {
        return Ok(None);
    };
    let strict = if route.strict {
        let Some(s) = plans(true) else {
            return Ok(None);
        };
        Some(s)
    } else {
        None
    };
    Ok(Some(FormDocument {
        spelling: text.to_owned(),
        plans: normal,
        strict,
        reveal: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ROUTE, compile, diagnose};

    fn coding(table: &str) -> String {
        format!(
            "{ROUTE}[[routes.rules]]\nselect = [\"$.email\"]\naction = \"drop\"\n[routes.body_coding]\n{table}"
        )
    }

    #[test]
    fn param_and_values_come_together() {
        assert_eq!(
            diagnose(&coding("param = \"compression\"\n")),
            ["9:9 error[missing_key]: `param` names the coding by its values: add `values`"]
        );
        assert_eq!(
            diagnose(&coding("values = { gzip = \"gzip\" }\n")),
            [
                "8:1 error[missing_key]: `values` are values of a query parameter: add `param`",
                "8:1 error[missing_key]: `[routes.body_coding]` needs `param` and `values`, \
                 `sniff` or `text`",
            ]
        );
        assert_eq!(
            diagnose(&coding("")),
            [
                "8:1 error[missing_key]: `[routes.body_coding]` needs `param` and `values`, \
              `sniff` or `text`"
            ]
        );
        assert_eq!(
            diagnose(&coding("param = \"a%20b\"\nvalues = { gzip = \"gzip\" }\n")),
            ["9:9 error[bad_value]: `param` must be a plain query parameter name"]
        );
    }

    #[test]
    fn each_value_names_a_layer_piigate_can_undo() {
        let c = compile(&coding(
            "param = \"compression\"\nvalues = { lz = \"lz-string\", b = \"form:data=>$.x\" }\n",
        ));
        assert_eq!(
            c.lines(),
            [
                "10:17 error[bad_value]: `lz-string` is not a body coding",
                "10:34 error[bad_value]: `form:data=>$.x` is not a body coding",
            ]
        );
        assert!(
            c.help("bad_value")
                .is_some_and(|h| h.contains("\"form:NAME=>base64\""))
        );
        assert_eq!(
            diagnose(&coding("sniff = \"zstd\"\n")),
            [
                "9:9 error[bad_value]: `sniff` recognises \"gzip\" (a text body starting with gzip's \
              magic bytes)"
            ]
        );
    }

    #[test]
    fn a_table_that_loads_keeps_its_layers_in_order() {
        let c = compile(&coding(
            "param = \"compression\"\nvalues = { \"gzip-js\" = \"gzip\", base64 = \"form:data=>base64\", none = \"identity\" }\nsniff = \"gzip\"\n",
        ));
        assert_eq!(c.lines(), Vec::<String>::new());
        let config = c.config.expect("compiles");
        let coding = config.routes[0].body_coding.as_ref().expect("body coding");
        let values: Vec<&str> = coding.values.iter().map(|(v, _)| v.as_str()).collect();
        assert_eq!(values, ["gzip-js", "base64", "none"]);
        assert_eq!(coding.param.as_deref(), Some("compression"));
        assert!(coding.sniff_gzip);
        assert_eq!(coding.text, crate::policy::TextBody::Json);
    }

    #[test]
    fn text_alone_declares_what_a_text_body_holds() {
        let c = compile(&coding("text = \"form_lines\"\n"));
        assert_eq!(c.lines(), Vec::<String>::new());
        let config = c.config.expect("compiles");
        let compiled = config.routes[0].body_coding.as_ref().expect("body coding");
        assert_eq!(compiled.text, crate::policy::TextBody::FormLines);
        assert!(compiled.param.is_none() && !compiled.sniff_gzip);
        assert_eq!(
            diagnose(&coding("text = \"lines\"\n")),
            [
                "9:8 error[bad_value]: `text` is \"json\" (the default) or \"form_lines\" (one \
              URL-encoded form per line)"
            ]
        );
    }
}
