//! The command line: `serve`, `tools` and `check`, and what each one runs.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::config::settings::{CatalogSettings, LogFormat};
use crate::config::{self, ConfigError, Env, Overrides, Settings, Transport};
use crate::local::{LocalCatalog, watch};
use crate::mcp::{self, Handler};
use crate::portal::Portal;
use crate::tools::{self, connection};
use crate::transport;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: a runtime failure (Backstage unreachable, cannot bind, ...).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: bad usage or configuration (sysexits `EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;

const EXAMPLES: &str = "\
Examples:
  # Serve catalog-info.yaml files from disk, no Backstage needed (edits are picked up live):
  stagedoor serve --catalog examples/catalog --transport http

  # Validate catalog files: every problem with file and line (exit 1 if any):
  stagedoor check --catalog examples/catalog

  # Serve over stdio (what Claude Desktop, Claude Code, Cursor and VS Code start):
  BACKSTAGE_BASE_URL=https://backstage.example.com BACKSTAGE_TOKEN=... stagedoor serve

  # Serve Streamable HTTP on 127.0.0.1:7008/mcp:
  stagedoor serve --transport http --config stagedoor.yaml

  # What tools would a config expose?
  stagedoor tools --config stagedoor.yaml

  # Validate config and probe Backstage (exit 0 when healthy):
  stagedoor check --config stagedoor.yaml

Environment (the standalone Node server's names are honoured):
  BACKSTAGE_BASE_URL, BACKSTAGE_TOKEN, MCP_TRANSPORT, HOST, PORT,
  CACHE_TTL_SECONDS, REQUEST_TIMEOUT_MS, RUST_LOG

Exit codes: 0 ok, 1 runtime failure, 64 usage or configuration error.";

/// stagedoor: serve a Backstage developer portal to AI assistants over MCP.
#[derive(Debug, Parser)]
#[command(name = "stagedoor", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// A YAML config file; repeat to layer several (later wins).
    #[arg(short, long = "config", value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Backstage backend URL (overrides config and BACKSTAGE_BASE_URL).
    #[arg(long, value_name = "URL")]
    pub backstage_url: Option<String>,
    /// Serve catalog files instead of Backstage: a catalog file, or a directory searched for
    /// catalog-info.yaml. Repeat (or list several) to combine.
    #[arg(long = "catalog", value_name = "PATH", num_args = 1..)]
    pub catalog: Vec<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over stdio (default) or Streamable HTTP.
    Serve {
        /// Shared options.
        #[command(flatten)]
        config: ConfigArgs,
        /// `stdio` or `http`.
        #[arg(long, value_name = "stdio|http")]
        transport: Option<String>,
        /// HTTP listen address (default 127.0.0.1:7008).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// List the tools a config exposes, without serving.
    Tools {
        /// Shared options.
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON (ids, names, schemas, annotations) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validate config, print it with secrets redacted, and probe Backstage (or load and
    /// validate the local catalog).
    Check {
        /// Shared options.
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Loads settings for a command, mapping problems to a message and [`EXIT_USAGE`].
pub fn load_settings(
    args: &ConfigArgs,
    transport: Option<String>,
    listen: Option<String>,
    env: &dyn Env,
) -> Result<Settings, ConfigError> {
    config::load(
        &args.config,
        &Overrides {
            transport,
            listen,
            base_url: args.backstage_url.clone(),
            catalog: args.catalog.clone(),
        },
        env,
    )
}

/// Installs the tracing subscriber: stderr only, since stdout belongs to stdio MCP.
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&settings.logging.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = match settings.logging.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Loads the local catalog (off the async threads) and reports what was loaded.
async fn load_catalog(c: &CatalogSettings) -> Result<Arc<LocalCatalog>, String> {
    let config = c.to_config();
    let started = std::time::Instant::now();
    let catalog = tokio::task::spawn_blocking(move || LocalCatalog::load(config))
        .await
        .map_err(|e| format!("loading the catalog failed: {e}"))?;
    let snap = catalog.snapshot();
    tracing::info!(
        entities = snap.len(),
        files = snap.file_count(),
        problems = snap.problems.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "local catalog loaded"
    );
    watch::log_problems(&snap.problems);
    Ok(Arc::new(catalog))
}

async fn portal(settings: &Settings) -> Result<Arc<Portal>, String> {
    if let Some(c) = &settings.catalog {
        if settings.backstage.is_some() {
            tracing::warn!(
                "both a Backstage URL and catalog paths are configured; serving the local catalog"
            );
        }
        return load_catalog(c).await.map(|c| Arc::new(Portal::local(c)));
    }
    let Some(b) = &settings.backstage else {
        return Err(
            "nothing to serve: give catalog files with --catalog PATH (or catalog.paths), or a \
             Backstage with BACKSTAGE_BASE_URL (and BACKSTAGE_TOKEN), --backstage-url, or \
             backstage.baseUrl in a --config file"
                .into(),
        );
    };
    Portal::new(b, &settings.cache)
        .map(Arc::new)
        .map_err(|e| format!("cannot set up the Backstage client: {e}"))
}

/// `stagedoor serve`.
pub async fn serve(settings: Settings) -> i32 {
    let portal = match portal(&settings).await {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("stagedoor: {msg}");
            return EXIT_USAGE;
        }
    };
    let handler = Handler::new(portal.clone(), settings.server.instructions.as_deref());
    let shutdown = crate::shutdown::on_signal();
    if let Some(c) = portal.local_catalog()
        && c.config().watch
    {
        watch::spawn(c.clone(), shutdown.clone());
    }
    let serving = match portal.base_url() {
        Some(u) => u.to_string(),
        None => "local catalog".to_string(),
    };
    let result = match settings.server.transport {
        Transport::Stdio => {
            tracing::info!(source = %serving, "serving MCP over stdio");
            transport::serve_stdio(handler, shutdown).await
        }
        Transport::Http => {
            let app = transport::app(
                handler,
                transport::AppState { portal },
                &settings.server,
                shutdown.clone(),
            );
            transport::serve_http(
                app,
                settings.server.listen,
                shutdown,
                settings.server.shutdown_grace,
            )
            .await
        }
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("stagedoor: {e:#}");
            EXIT_FAILURE
        }
    }
}

fn annotations_label(a: tools::Attributes) -> String {
    let mut s = String::new();
    s.push(if a.read_only { 'R' } else { '-' });
    s.push(if !a.read_only && a.destructive {
        'D'
    } else {
        '-'
    });
    s.push(if a.read_only || a.idempotent {
        'I'
    } else {
        '-'
    });
    s
}

/// `stagedoor tools`: prints the tools as a table or JSON (those of the local catalog when
/// catalog paths are configured).
pub fn list_tools(settings: &Settings, json_out: bool) -> i32 {
    let local = settings.catalog.is_some();
    let defs = tools::definitions_for(local);
    if json_out {
        let listed: Vec<Value> = defs
            .iter()
            .zip(
                mcp::tool_list_json_for(local)
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            )
            .map(|(d, mut t)| {
                if let Value::Object(m) = &mut t {
                    m.insert("id".into(), json!(d.id));
                    m.insert("group".into(), json!("curated"));
                }
                t
            })
            .collect();
        match serde_json::to_string_pretty(&listed) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("stagedoor: {e}");
                return EXIT_FAILURE;
            }
        }
        return EXIT_OK;
    }
    let name_w = defs.iter().map(|d| d.name.len()).max().unwrap_or(4).max(4);
    let id_w = defs.iter().map(|d| d.id.len()).max().unwrap_or(2).max(2);
    println!("{:name_w$}  {:id_w$}  HINTS  DESCRIPTION", "NAME", "ID");
    for d in defs {
        println!(
            "{:name_w$}  {:id_w$}  {}    {}",
            d.name,
            d.id,
            annotations_label(d.attributes),
            d.summary()
        );
    }
    println!("\nHINTS: R read-only, D destructive, I idempotent.");
    EXIT_OK
}

/// `stagedoor check`: prints the redacted config, probes Backstage, exits 0 when healthy.
pub async fn check(settings: Settings) -> i32 {
    println!("# Effective configuration (secrets redacted)");
    match serde_saphyr::to_string(&settings.redacted_view()) {
        Ok(y) => println!("{y}"),
        Err(_) => println!("{:#}", settings.redacted_view()),
    }
    if let Some(c) = &settings.catalog {
        return check_catalog(c).await;
    }
    let portal = match portal(&settings).await {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("stagedoor: {msg}");
            return EXIT_USAGE;
        }
    };
    let d = connection::diagnose(&portal).await;
    println!("# Backstage at {}", d.base_url);
    println!(
        "reachable: {}{}",
        if d.reachable { "yes" } else { "NO" },
        d.latency_ms
            .map(|l| format!(" ({l} ms)"))
            .unwrap_or_default()
    );
    println!(
        "identity:  {}{}{}",
        d.identity.kind,
        d.identity
            .subject
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        match d.identity.accepted {
            Some(true) => ", accepted",
            Some(false) => ", REJECTED",
            None => "",
        }
    );
    for (name, p) in &d.plugins {
        println!(
            "plugin {name:<11} {}{}",
            if p.ok { "ok" } else { "FAIL" },
            p.error
                .as_ref()
                .map(|e| format!(" - {e}"))
                .unwrap_or_default()
        );
    }
    for a in &d.advice {
        println!("advice: {a}");
    }
    let catalog_ok = d.plugins.get("catalog").is_some_and(|p| p.ok);
    if d.reachable && catalog_ok {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

/// `stagedoor check` over a local catalog: loads it, prints what was served and every
/// problem as `file:line: message`; exits 0 only when there is no problem.
async fn check_catalog(c: &CatalogSettings) -> i32 {
    let config = c.to_config();
    let started = std::time::Instant::now();
    let Ok(catalog) = tokio::task::spawn_blocking(move || LocalCatalog::load(config)).await else {
        eprintln!("stagedoor: loading the catalog failed");
        return EXIT_FAILURE;
    };
    let snap = catalog.snapshot();
    println!("# Local catalog");
    for p in &c.paths {
        println!("path:     {}", crate::local::shown(p));
    }
    println!(
        "loaded:   {} entities from {} files in {} ms",
        snap.len(),
        snap.file_count(),
        started.elapsed().as_millis()
    );
    let kinds: Vec<String> = snap
        .kinds()
        .into_iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!("kinds:    {}", kinds.join(", "));
    println!("problems: {}", snap.problems.len());
    for p in &snap.problems {
        let file = crate::local::shown(&p.file);
        match p.line {
            Some(l) => println!("{file}:{l}: {}", p.message),
            None => println!("{file}: {}", p.message),
        }
    }
    if snap.problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}
