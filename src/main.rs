//! The `piigate` command line: a thin layer over the library.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use piigate::config::{self, ProcessEnv, Runtime};
use piigate::keys::{KeyId, KeyStatus, Keyring, generate_entry};
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
    },
}

/// The payload `preview` and `reveal` read, and how to read it.
#[derive(clap::Args)]
struct PayloadArgs {
    /// Content type of the payload, as the app would send it: JSON, NDJSON or a form.
    #[arg(long, default_value = "application/json", conflicts_with = "query")]
    content_type: String,
    /// The payload is a URI query string (without `?`), policed with the route's `query:` rules.
    #[arg(long)]
    query: bool,
    /// Payload file, or `-` for stdin.
    #[arg(default_value = "-")]
    file: PathBuf,
}

impl PayloadArgs {
    /// The payload's format and bytes.
    fn read(&self) -> anyhow::Result<(Format, Vec<u8>)> {
        let format = if self.query {
            Format::Query
        } else {
            Format::from_content_type(Some(self.content_type.as_bytes()))
                .with_context(|| format!("content type `{}`", self.content_type))?
        };
        let mut input = read_input(&self.file)?;
        if format == Format::Query {
            // A query string read from a file or a terminal ends with the line's newline.
            while input.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                input.pop();
            }
        }
        Ok((format, input))
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
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("piigate: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
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
        } => {
            let loaded = load_or_report(&config)?;
            let (format, input) = payload.read()?;
            let route = piigate::ops::route(&loaded, &route)?;
            let out = piigate::ops::preview(&loaded, route, format, &input)?;
            write_output(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Reveal {
            config,
            route,
            payload,
        } => {
            let loaded = load_or_report(&config)?;
            let (format, input) = payload.read()?;
            let route = piigate::ops::route(&loaded, &route)?;
            let out = piigate::ops::reveal(&loaded, route, format, &input)?;
            write_output(&out)?;
            Ok(ExitCode::SUCCESS)
        }
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
        } => keygen(id, status, keyring.as_deref()),
    }
}

fn keygen(
    id: Option<String>,
    status: Option<StatusArg>,
    keyring: Option<&Path>,
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
                Keyring::from_text(&text, &path.display().to_string()).map_err(|errs| {
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
        && ring.get(id.as_str()).is_some()
    {
        anyhow::bail!("the keyring already has a key `{id}`; choose another --id");
    }
    let has_primary = existing.as_ref().is_some_and(|r| r.primary().is_some());
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
    let entry = generate_entry(&id, status)
        .map_err(|_| anyhow::anyhow!("the OS random number generator failed"))?;
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

fn serve(path: &Path, log: LogArg) -> anyhow::Result<ExitCode> {
    let _log = telemetry::init(match log {
        LogArg::Text => LogFormat::Text,
        LogArg::Json => LogFormat::Json,
    });
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
        let source = piigate::reload::ReloadSource {
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
async fn reload_on_sighup(reloader: Arc<piigate::reload::Reloader>) {
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
    if !out.ends_with(b"\n") {
        stdout.write_all(b"\n")?;
    }
    Ok(())
}

/// Today as YYYYMMDD (UTC), from the system clock, for default key ids.
fn today_compact() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    // Civil-from-days (proleptic Gregorian), valid for any date after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}")
}
