//! The `piigate` command line: a thin layer over the library.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use piigate::config::{self, ProcessEnv, Runtime};
use piigate::keys::{KeyId, KeyStatus, KeyringFile, generate_entry, wrapped_entry};
use piigate::proxy::Gateway;
use piigate::rewrite::Format;
use piigate::telemetry::{self, LogFormat};
use tracing::info;

/// PII pseudonymisation and encryption gateway.
#[derive(Parser)]
#[command(name = "piigate", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway.
    Serve {
        /// Path to proxy.toml.
        #[arg(long, short, default_value = "proxy.toml")]
        config: PathBuf,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogArg::Text)]
        log_format: LogArg,
    },
    /// Validate a configuration and its keyring; print every problem as FILE:LINE:COL.
    Check {
        /// Path to proxy.toml.
        #[arg(long, short, default_value = "proxy.toml")]
        config: PathBuf,
        /// Also print this route's rules as they apply: its own, then its preset's, each with
        /// where it was written and why (repeatable).
        #[arg(long, value_name = "ROUTE")]
        expand: Vec<String>,
    },
    /// Print the body a route would forward for a payload; nothing is sent.
    Preview {
        /// Path to proxy.toml.
        #[arg(long, short, default_value = "proxy.toml")]
        config: PathBuf,
        /// Route name.
        #[arg(long)]
        route: String,
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// Decrypt piigate envelopes in a payload with the route's domain keys.
    Reveal {
        /// Path to proxy.toml.
        #[arg(long, short, default_value = "proxy.toml")]
        config: PathBuf,
        /// Route name.
        #[arg(long)]
        route: String,
        #[command(flatten)]
        payload: PayloadArgs,
    },
    /// Audit-log operations.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Make a new keyring entry with 32 bytes from the OS random number generator: appended to
    /// `--keyring FILE` (created 0600 if missing), or printed.
    Keygen {
        /// Key id, [a-z0-9]{1,16}; default `k` + today's date.
        #[arg(long)]
        id: Option<String>,
        /// Status of the new key. Default: `primary` for the first key of a keyring (a new
        /// `--keyring` file, or printed on its own), `active` when the keyring already has a
        /// primary key (promote it after every replica has loaded it).
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Append the entry to this keyring file instead of printing it.
        #[arg(long)]
        keyring: Option<PathBuf>,
        /// Make the master key on the HSM and store it wrapped (RFC 5649) under the token key
        /// with this label; the HSM comes from the keyring's [hsm] table or the --hsm-* flags.
        #[arg(long, value_name = "LABEL")]
        wrap_with: Option<String>,
        #[command(flatten)]
        hsm: HsmArgs,
    },
    /// HSM administration (PKCS#11).
    Hsm {
        #[command(subcommand)]
        cmd: HsmCmd,
    },
}

/// Where the HSM is, when no keyring [hsm] table says so.
#[derive(clap::Args)]
struct HsmArgs {
    /// PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long)]
    hsm_module: Option<PathBuf>,
    /// Token label.
    #[arg(long)]
    hsm_token: Option<String>,
    /// Variable holding the user PIN.
    #[arg(long, default_value = piigate::keys::pkcs11::DEFAULT_PIN_ENV)]
    hsm_pin_env: String,
    /// File holding the user PIN (instead of --hsm-pin-env).
    #[arg(long)]
    hsm_pin_file: Option<PathBuf>,
}

impl HsmArgs {
    fn spec(&self) -> Option<piigate::keys::pkcs11::HsmSpec> {
        use piigate::keys::pkcs11::{HsmSpec, PinSource};
        Some(HsmSpec {
            module: self.hsm_module.clone()?,
            token: self.hsm_token.clone()?,
            pin: match &self.hsm_pin_file {
                Some(f) => PinSource::File(f.clone()),
                None => PinSource::Env(self.hsm_pin_env.clone()),
            },
            at: (0, 0),
        })
    }
}

#[derive(Subcommand)]
enum HsmCmd {
    /// Create the wrapping key on the token: AES-256, never extractable, wrap/unwrap only.
    CreateWrappingKey {
        /// Label of the new key.
        #[arg(long)]
        label: String,
        #[command(flatten)]
        hsm: HsmArgs,
    },
}

/// The payload `preview` and `reveal` read, and how to read it.
#[derive(clap::Args)]
struct PayloadArgs {
    /// Content type of the payload, as the app would send it: JSON, NDJSON, a form, or text
    /// (`text/plain`: read as the route reads text bodies).
    #[arg(long, default_value = "application/json", conflicts_with = "query")]
    content_type: String,
    /// Content-Encoding of the payload as it would arrive (`gzip`, `br`, …): decoded, policed
    /// and encoded again, as the gateway does.
    #[arg(long, conflicts_with = "query")]
    content_encoding: Option<String>,
    /// The query string of the request the body came with (without `?`): on a route with
    /// `[routes.body_coding]`, it may name the body's coding (`compression=gzip-js`).
    #[arg(long, conflicts_with = "query")]
    request_query: Option<String>,
    /// The payload is a URI query string (without `?`), policed with the route's `query:` rules.
    #[arg(long)]
    query: bool,
    /// Payload file, or `-` for stdin.
    #[arg(default_value = "-")]
    file: PathBuf,
}

/// How a body arrives: the headers that say what it is, and the request's query.
type Arrival<'a> = (http::HeaderMap, Option<&'a str>);

impl PayloadArgs {
    /// The payload's bytes, and how it arrives (`None`: it is a query string).
    fn read(&self) -> anyhow::Result<(Vec<u8>, Option<Arrival<'_>>)> {
        let mut input = read_input(&self.file)?;
        if self.query {
            // A query string read from a file or a terminal ends with the line's newline.
            while input.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                input.pop();
            }
            return Ok((input, None));
        }
        // A type no rewriter reads is the operator's mistake here, not a refusal to preview.
        Format::from_content_type(Some(self.content_type.as_bytes()))
            .with_context(|| format!("content type `{}`", self.content_type))?;
        let mut headers = http::HeaderMap::new();
        let value = |v: &str, what: &str| {
            http::HeaderValue::from_str(v).with_context(|| format!("{what} `{v}`"))
        };
        headers.insert(
            http::header::CONTENT_TYPE,
            value(&self.content_type, "content type")?,
        );
        if let Some(ce) = &self.content_encoding {
            headers.insert(
                http::header::CONTENT_ENCODING,
                value(ce, "content encoding")?,
            );
        }
        let query = self
            .request_query
            .as_deref()
            .map(|q| q.trim_start_matches('?'));
        Ok((input, Some((headers, query))))
    }
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain of the audit log named by the config; exit 1 on any break.
    Verify {
        /// Path to proxy.toml.
        #[arg(long, short, default_value = "proxy.toml")]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogArg {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum StatusArg {
    Primary,
    Active,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = check_cpu() {
        eprintln!("piigate: {e}");
        return ExitCode::FAILURE;
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("piigate: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Refuses a CPU without the features this build was compiled to require, before any code that
/// uses them runs (`piigate::crypto::cpu`).
fn check_cpu() -> Result<(), String> {
    let required = piigate::crypto::cpu::required();
    if required.is_empty() {
        return Ok(());
    }
    let cpuinfo = match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(text) => text,
        // Not Linux: no file to read, and the CPUs such builds run on have these features.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            eprintln!(
                "piigate: warning: cannot read /proc/cpuinfo ({e}) to check that this CPU has {}",
                required.join(", ")
            );
            return Ok(());
        }
    };
    let missing = piigate::crypto::cpu::missing(&cpuinfo, &required);
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "this build requires CPU features this machine lacks: {} (it was compiled with {}, \
         see .cargo/config.toml); build without them with `RUSTFLAGS= cargo build --release`",
        missing.join(", "),
        required.join(", ")
    ))
}

/// The error and its causes, each said once: many errors already quote their cause in their
/// own message (`cannot open the store: embedded store …: Permission denied`), and printing
/// the chain as well would repeat it.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Serve { config, log_format } => serve(&config, log_format),
        Cmd::Check { config, expand } => Ok(check(&config, &expand)),
        Cmd::Preview {
            config,
            route,
            payload,
        } => offline(&config, &route, &payload, piigate::ops::preview),
        Cmd::Reveal {
            config,
            route,
            payload,
        } => offline(&config, &route, &payload, piigate::ops::reveal),
        Cmd::Audit {
            cmd: AuditCmd::Verify { config },
        } => {
            let loaded = load_or_report(&config)?;
            let path = loaded.audit_path;
            if !path.exists() {
                println!(
                    "{}: no audit log yet (nothing has been audited)",
                    path.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            match piigate::audit::verify(&path) {
                Ok(r) => {
                    println!(
                        "{}: ok, {} entries, head {}",
                        path.display(),
                        r.entries,
                        r.head
                    );
                    if r.head_lagging {
                        println!(
                            "note: the head file was one entry behind (a crash mid-append); the gateway repairs it on start"
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("{e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Cmd::Keygen {
            id,
            status,
            keyring,
            wrap_with,
            hsm,
        } => keygen(id, status, keyring.as_deref(), wrap_with.as_deref(), &hsm),
        Cmd::Hsm {
            cmd: HsmCmd::CreateWrappingKey { label, hsm },
        } => {
            use piigate::keys::pkcs11;
            let spec = hsm
                .spec()
                .context("--hsm-module and --hsm-token are required")?;
            let pin = pkcs11::Pin::read(&spec, &|v| std::env::var(v).ok())?;
            pkcs11::create_wrapping_key(&spec, &pin, &label)?;
            eprintln!(
                "created AES-256 wrapping key `{label}` on token `{}` (not extractable)",
                spec.token
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn keygen(
    id: Option<String>,
    status: Option<StatusArg>,
    keyring: Option<&Path>,
    wrap_with: Option<&str>,
    hsm: &HsmArgs,
) -> anyhow::Result<ExitCode> {
    let id = match id {
        Some(id) => id,
        None => format!("k{}", today_compact()),
    };
    let id = KeyId::new(&id).context("key id must be 1-16 characters of [a-z0-9]")?;
    // The existing keyring decides the default status and catches a duplicate id before
    // anything is written.
    let existing = match keyring {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(
                KeyringFile::parse(&text, &path.display().to_string()).map_err(|errs| {
                    for e in &errs {
                        eprintln!("{e}");
                    }
                    anyhow::anyhow!(
                        "{} has errors; fix them before adding a key",
                        path.display()
                    )
                })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        },
        None => None,
    };
    if let Some(ring) = &existing
        && ring.contains(id.as_str())
    {
        anyhow::bail!("the keyring already has a key `{id}`; choose another --id");
    }
    let has_primary = existing.as_ref().is_some_and(KeyringFile::has_primary);
    let status = match status {
        Some(StatusArg::Primary) if has_primary => anyhow::bail!(
            "the keyring already has a primary key; add the new key as active, reload every \
             replica, then mark it primary and the old one active"
        ),
        Some(StatusArg::Primary) => KeyStatus::Primary,
        Some(StatusArg::Active) => KeyStatus::Active,
        None if has_primary => KeyStatus::Active,
        None => KeyStatus::Primary,
    };
    let entry = match wrap_with {
        None => generate_entry(&id, status)
            .map_err(|_| anyhow::anyhow!("the OS random number generator failed"))?,
        Some(label) => {
            use piigate::keys::pkcs11;
            // The keyring's own [hsm] table wins; flags describe the HSM of a new keyring.
            let (spec, new_table) = match existing.as_ref().and_then(KeyringFile::hsm) {
                Some(spec) => (spec.clone(), false),
                None => (
                    hsm.spec().context(
                        "--wrap-with needs the HSM: a keyring with an [hsm] table, or \
                         --hsm-module and --hsm-token",
                    )?,
                    true,
                ),
            };
            let pin = pkcs11::Pin::read(&spec, &|v| std::env::var(v).ok())?;
            let wrapped = pkcs11::wrap_new_key(&spec, &pin, label)?;
            let entry = wrapped_entry(&id, status, &wrapped, label);
            if new_table {
                format!("{}\n{entry}", spec.to_toml())
            } else {
                entry
            }
        }
    };
    match keyring {
        None => print!("{entry}"),
        Some(path) => {
            append_private(path, existing.is_some(), &entry)?;
            eprintln!(
                "added key `{id}` ({}) to {}",
                status.as_str(),
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends `text` to `path`, creating it readable by its owner only. The entry holds a key:
/// it is never printed when it goes to a file.
fn append_private(path: &Path, exists: bool, text: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot open {} for writing", path.display()))?;
    let sep = if exists { "\n" } else { "" };
    f.write_all(format!("{sep}{text}").as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Loads a config; on errors prints every diagnostic and fails.
/// An offline operation on one payload under one route (`ops::preview`, `ops::reveal`).
type OfflineOp = fn(
    &config::Config,
    &config::Route,
    &piigate::ops::Payload<'_>,
) -> Result<Vec<u8>, piigate::ops::OpsError>;

/// `preview` or `reveal`: one payload through one route of the config, written to stdout.
fn offline(
    config: &Path,
    route: &str,
    payload: &PayloadArgs,
    op: OfflineOp,
) -> anyhow::Result<ExitCode> {
    let loaded = load_or_report(config)?;
    let (input, body) = payload.read()?;
    let payload = match body {
        None => piigate::ops::Payload::query(&input),
        Some((headers, query)) => piigate::ops::Payload::body(headers, query, &input),
    };
    let route = piigate::ops::route(&loaded, route)?;
    write_output(&op(&loaded, route, &payload)?)?;
    Ok(ExitCode::SUCCESS)
}

fn load_or_report(path: &Path) -> anyhow::Result<config::Config> {
    match config::load(path, &ProcessEnv) {
        Ok(l) => {
            if !l.warnings.items().is_empty() {
                eprint!("{}", l.warnings);
            }
            Ok(l.config)
        }
        Err(d) => {
            eprint!("{d}");
            anyhow::bail!("{} error(s) in the configuration", d.error_count())
        }
    }
}

fn check(path: &Path, expand: &[String]) -> ExitCode {
    match config::load(path, &ProcessEnv) {
        Ok(l) => {
            for route in expand {
                match config::expand_route(path, route) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        println!("{}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
            print!("{}", l.warnings);
            let c = &l.config;
            // What `serve` will write must be writable: check fails where serve would.
            let name = path.display().to_string();
            if let Err(d) = config::state::probe(c, &name, config::state::Probe::Check) {
                print!("{d}");
                println!("{}: {} error(s)", path.display(), d.error_count());
                return ExitCode::FAILURE;
            }
            println!(
                "{}: ok ({} route(s), {} key(s){})",
                path.display(),
                c.routes.len(),
                c.key_ids.len(),
                if c.server.tls.is_some() {
                    ", TLS 1.3"
                } else {
                    ", plain HTTP"
                }
            );
            println!(
                "state: {} (from {})",
                c.state.path.display(),
                c.state.origin
            );
            for r in &c.routes {
                println!("{}", route_summary(r));
            }
            if !c.example_keys.is_empty() {
                println!(
                    "WARNING: the keyring holds the PUBLIC example keys ({}); do not protect real data with them",
                    c.example_keys.join(", ")
                );
            }
            ExitCode::SUCCESS
        }
        Err(d) => {
            print!("{d}");
            println!("{}: {} error(s)", path.display(), d.error_count());
            ExitCode::FAILURE
        }
    }
}

/// One line per route for `check`: where it matches, where it sends, and what it does.
fn route_summary(r: &config::Route) -> String {
    use piigate::policy::{Action, FieldPlan, FieldTarget, Inner, Plan};
    fn add(a: &Action, into: &mut Vec<&'static str>) {
        let k = a.kind().as_str();
        if !into.contains(&k) {
            into.push(k);
        }
    }
    // Every action of a plan, also inside the documents its chains read.
    fn kinds(plan: &Plan, into: &mut Vec<&'static str>) {
        for rule in &plan.rules {
            add(&rule.action, into);
        }
        for w in &plan.wraps {
            inner(&w.inner, into);
        }
    }
    fn field_kinds(plan: &FieldPlan, into: &mut Vec<&'static str>) {
        for rule in &plan.rules {
            match &rule.target {
                FieldTarget::Wrapped(w) => inner(&w.inner, into),
                FieldTarget::Whole(a) => add(a, into),
            }
        }
    }
    fn inner(i: &Inner, into: &mut Vec<&'static str>) {
        match i {
            Inner::Json(p) => kinds(p, into),
            Inner::Query(f) | Inner::Url(f) => field_kinds(f, into),
            Inner::Text(rule) => add(&rule.action, into),
        }
    }
    let mut actions = Vec::new();
    kinds(&r.plan, &mut actions);
    for field in [
        &r.fields.form,
        &r.fields.query,
        &r.fields.header,
        &r.fields.cookie,
    ] {
        field_kinds(field, &mut actions);
    }
    let mut extra = Vec::new();
    if let Some(p) = r.preset {
        extra.push(format!("preset {p}"));
    }
    if let Some(d) = r.detect {
        extra.push(format!(
            "detect {}",
            match d {
                piigate::policy::DetectMode::Observe => "observe",
                piigate::policy::DetectMode::Enforce => "enforce",
            }
        ));
    }
    if r.allow_list {
        extra.push("allow-list".to_owned());
    }
    if r.subject.is_some() {
        extra.push("subject-scoped".to_owned());
    }
    match r.opt_out {
        config::OptOut::Block => extra.push("opt-out block".to_owned()),
        config::OptOut::Strict => extra.push("opt-out strict".to_owned()),
        config::OptOut::None => {}
    }
    if !r.response_plan.rules.is_empty() {
        extra.push("response reveal".to_owned());
    }
    if let Some(c) = &r.body_coding {
        // `body coding compression=gzip-js|base64, sniff gzip`
        let mut parts = Vec::new();
        if let Some(p) = &c.param {
            let values: Vec<&str> = c.values.iter().map(|(v, _)| v.as_str()).collect();
            parts.push(format!("{p}={}", values.join("|")));
        }
        if c.sniff_gzip {
            parts.push("sniff gzip".to_owned());
        }
        if c.text == piigate::policy::TextBody::FormLines {
            parts.push("text form_lines".to_owned());
        }
        extra.push(format!("body coding {}", parts.join(", ")));
    }
    let host = r.host.as_deref().map_or(String::new(), |h| format!("{h} "));
    format!(
        "route {}: {host}{} -> {}://{}{} ({}; domain {}): {}{}",
        r.name,
        r.path_prefix,
        r.upstream.scheme,
        r.upstream.authority,
        r.upstream.base_path,
        r.purpose.as_str(),
        r.domain,
        if actions.is_empty() {
            "no rules".to_owned()
        } else {
            actions.join(", ")
        },
        if extra.is_empty() {
            String::new()
        } else {
            format!("; {}", extra.join(", "))
        }
    )
}

fn serve(path: &Path, log: LogArg) -> anyhow::Result<ExitCode> {
    let _log = telemetry::init(match log {
        LogArg::Text => LogFormat::Text,
        LogArg::Json => LogFormat::Json,
    });
    // Where a panic happened, never its message: a slice's panic quotes the text it sliced,
    // and in a request task that text is request data (no PII in a log line). The request
    // itself is refused with a 500 (`proxy::service`).
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map_or_else(
            || "unknown".to_owned(),
            |l| format!("{}:{}", l.file(), l.line()),
        );
        tracing::error!(location = %at, "A panic (its message is not logged: it may quote request data).");
    }));
    let loaded = match config::load(path, &ProcessEnv) {
        Ok(l) => l,
        Err(d) => {
            eprint!("{d}");
            anyhow::bail!(
                "{} error(s) in the configuration; nothing started",
                d.error_count()
            );
        }
    };
    // The example-keys warning gets its own line below.
    for w in loaded
        .warnings
        .items()
        .iter()
        .filter(|w| w.code != "example_keys")
    {
        tracing::warn!(warning = %w, "Configuration warning.");
    }
    if !loaded.config.example_keys.is_empty() {
        tracing::warn!(
            keys = %loaded.config.example_keys.join(","),
            "PUBLIC EXAMPLE KEYS IN USE: anyone can open these envelopes and link these tokens; \
             generate a keyring with `piigate keygen --keyring keys.toml`."
        );
    }
    // Fail before binding anything, naming the path and the option, if state cannot be written
    // (creating the default state directory when it is missing).
    if let Err(d) = config::state::probe(
        &loaded.config,
        &path.display().to_string(),
        config::state::Probe::Prepare,
    ) {
        eprint!("{d}");
        anyhow::bail!(
            "the state directory is not usable ({} error(s)); nothing started",
            d.error_count()
        );
    }
    let server = &loaded.config.server;
    let mut rt = match server.runtime {
        // This thread becomes the first worker; the gateway starts the others.
        Runtime::PerCore => tokio::runtime::Builder::new_current_thread(),
        Runtime::WorkStealing => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = server.workers {
                b.worker_threads(n);
            }
            b
        }
    };
    rt.enable_all();
    info!(
        runtime = server.runtime.as_str(),
        workers = server.worker_threads(),
        "Starting."
    );
    let rt = rt.build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let source = piigate::proxy::reload::ReloadSource {
            path: path.to_path_buf(),
            env: Arc::new(ProcessEnv),
        };
        // The start error names the step (which listener, the store, the audit log) and the
        // address or path.
        let gateway = Gateway::bind(loaded.config, Some(source)).await?;
        if let Some(reloader) = gateway.reloader() {
            tokio::spawn(reload_on_sighup(reloader));
        }
        gateway
            .run(shutdown_signal())
            .await
            .context("the gateway failed")?;
        info!("Stopped.");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP re-reads the config and keyring; a bad file keeps the old generation serving.
async fn reload_on_sighup(reloader: Arc<piigate::proxy::reload::Reloader>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            // Success and failure are logged by the reloader itself.
            let _ = reloader.reload("signal").await;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reloader;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    info!("Shutdown signal received.");
}

fn read_input(file: &Path) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if file == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read stdin")?;
    } else {
        buf = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    }
    Ok(buf)
}

fn write_output(out: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out)?;
    // A newline ends text for the terminal; coded output (a gzip body) goes byte for byte.
    if !out.ends_with(b"\n") && std::str::from_utf8(out).is_ok() {
        stdout.write_all(b"\n")?;
    }
    Ok(())
}

/// Today as YYYYMMDD (UTC), from the system clock, for default key ids.
fn today_compact() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}{:02}{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}
