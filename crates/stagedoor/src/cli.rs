//! The command line: `serve`, `tools` and `check`, and what each one runs.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::access::Access;
use crate::auth::Principal;
use crate::bridge::Bridge;
use crate::config::settings::{CatalogSettings, LogFormat};
use crate::config::{self, ConfigError, Env, Overrides, Settings, Transport};
use crate::local::{LocalCatalog, watch};
use crate::mcp::{self, Handler};
use crate::portal::Portal;
use crate::servers::{Registry, ServedTool};
use crate::tools;
use crate::transport;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: a runtime failure (Backstage unreachable, cannot bind, ...).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code: bad usage or configuration (sysexits `EX_USAGE`).
pub const EXIT_USAGE: i32 = 64;

const EXAMPLES: &str = "\
Examples:
  # Serve over stdio (what Claude Desktop, Claude Code, Cursor and VS Code start):
  BACKSTAGE_BASE_URL=https://backstage.example.com BACKSTAGE_TOKEN=... stagedoor serve

  # Serve Streamable HTTP on 127.0.0.1:7008/mcp:
  stagedoor serve --transport http --config stagedoor.yaml

  # What tools would a config expose (curated and bridged; one named server)?
  # (--read-only: only those that change nothing)
  stagedoor tools --config stagedoor.yaml [--read-only]
  stagedoor tools --config stagedoor.yaml --server catalog-ro

  # Serve one named server (mcpActions.servers.<key>) over stdio:
  stagedoor serve --config stagedoor.yaml --server catalog-ro

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
    /// Serve only tools that change nothing in Backstage (sets server.readOnly).
    #[arg(long)]
    pub read_only: bool,
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
        /// Over stdio, serve this named server (`mcpActions.servers.<key>`) instead of the
        /// default one. Over HTTP every server is served at its own path.
        #[arg(long, value_name = "KEY")]
        server: Option<String>,
    },
    /// List the tools a config exposes, without serving.
    Tools {
        /// Shared options.
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON (ids, names, groups, schemas, annotations) instead of a table.
        #[arg(long)]
        json: bool,
        /// Show the tools of this named server (`mcpActions.servers.<key>`).
        #[arg(long, value_name = "KEY")]
        server: Option<String>,
    },
    /// Validate config, print it with secrets redacted, and probe Backstage.
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
            read_only: args.read_only,
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
        .with_writer(crate::logging::LossyStderr)
        .log_internal_errors(false)
        .with_ansi(false);
    let _ = match settings.logging.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
    let mut problems = snap.problems.clone();
    problems.extend(catalog.docs_problems());
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
    println!(
        "skipped:  {} YAML files hold no catalog entity",
        snap.skipped.len()
    );
    for s in snap.skipped_shown() {
        println!("  {s}");
    }
    if snap.skipped.len() > crate::local::SKIPPED_SHOWN {
        println!(
            "  ... and {} more",
            snap.skipped.len() - crate::local::SKIPPED_SHOWN
        );
    }
    println!("warnings: {}", snap.dangling.len());
    for w in &snap.dangling {
        println!("{}: warning: {}", location_of(w), w.message);
    }
    println!("problems: {}", problems.len());
    for p in &problems {
        println!("{}: {}", location_of(p), p.message);
    }
    if problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

/// `file:line` (or `file`) of a problem, as shown.
fn location_of(p: &crate::local::Problem) -> String {
    let file = crate::local::shown(&p.file);
    match p.line {
        Some(l) => format!("{file}:{l}"),
        None => file,
    }
}

/// The bridge (when plugin sources are configured and bridged tools are served) and the
/// server registry of `settings`.
pub fn registry(settings: &Settings, portal: &Arc<Portal>) -> Arc<Registry> {
    // A local catalog has no Actions Registry: nothing is bridged.
    let bridge = (!settings.actions.plugin_sources.is_empty()
        && settings.servers.bridged
        && !portal.is_local())
    .then(|| Bridge::new(portal.clone(), &settings.actions, Registry::curated_names()));
    // A tools/list waits for the first discovery at most one Backstage timeout (+ slack).
    let list_wait = settings
        .backstage
        .as_ref()
        .map_or(std::time::Duration::from_secs(10), |b| b.timeout)
        + std::time::Duration::from_secs(1);
    Registry::new(
        &settings.servers,
        Access::from_settings(settings, portal.is_local()),
        bridge,
        list_wait,
    )
}

/// Logs a warning for every filter rule that matches no tool.
pub fn warn_unmatched_rules(registry: &Registry) -> Vec<String> {
    let lines: Vec<String> = registry
        .unmatched_rules()
        .iter()
        .map(|r| format!("filter rule {} matches no tool", r.label))
        .collect();
    for l in &lines {
        tracing::warn!("{l}");
    }
    lines
}

fn unknown_server(settings: &Settings, key: &str) -> String {
    let known: Vec<&str> = settings
        .servers
        .named
        .iter()
        .map(|n| n.key.as_str())
        .collect();
    format!(
        "no server `{key}` in mcpActions.servers (known: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// `stagedoor serve`.
pub async fn serve(settings: Settings, server_key: Option<String>) -> i32 {
    let portal = match portal(&settings).await {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("stagedoor: {msg}");
            return EXIT_USAGE;
        }
    };
    if let Some(key) = &server_key
        && !settings.servers.named.iter().any(|n| &n.key == key)
    {
        eprintln!("stagedoor: {}", unknown_server(&settings, key));
        return EXIT_USAGE;
    }
    let shutdown = crate::shutdown::on_signal();
    crate::shutdown::hard_deadline(
        &shutdown,
        settings.server.drain_delay + settings.server.shutdown_grace,
    );
    if let Some(c) = portal.local_catalog()
        && c.config().watch
    {
        watch::spawn(c.clone(), shutdown.clone());
    }
    let registry = registry(&settings, &portal);
    if let Some(bridge) = registry.bridge() {
        bridge.spawn(shutdown.child_token());
        let registry = registry.clone();
        tokio::spawn(async move {
            if let Some(b) = registry.bridge() {
                b.wait_listed(std::time::Duration::from_secs(120)).await;
            }
            warn_unmatched_rules(&registry);
        });
    } else {
        warn_unmatched_rules(&registry);
    }
    for w in settings.warnings() {
        tracing::warn!("{w}");
    }
    for n in &settings.notes {
        tracing::info!("{n}");
    }
    let audit = match &settings.audit {
        Some(sink) => match crate::audit::AuditLog::open(
            sink,
            settings
                .auth
                .tokens
                .iter()
                .map(|t| t.token.expose().to_string())
                .collect(),
        ) {
            Ok(log) => Some(Arc::new(log)),
            Err(e) => {
                eprintln!("stagedoor: cannot open the audit log: {e}");
                return EXIT_FAILURE;
            }
        },
        None => None,
    };
    let handler = Handler::with_registry(portal.clone(), registry).with_audit(audit);
    let result = match settings.server.transport {
        Transport::Stdio => {
            let handler = match handler.for_server(server_key.as_deref()) {
                Some(h) => h,
                None => handler,
            };
            let serving = portal
                .base_url()
                .map_or_else(|| "local catalog".to_string(), |u| u.to_string());
            tracing::info!(source = %serving, server = server_key.as_deref().unwrap_or("default"), "serving MCP over stdio");
            transport::serve_stdio(handler, shutdown).await
        }
        Transport::Http => {
            let state = transport::AppState::new(portal, &settings);
            state.auth.tokens().watch(shutdown.clone());
            let drain = state.drain.clone();
            let app = transport::app(handler, state, &settings.server, shutdown.clone());
            transport::serve_http(app, settings.server.listen, shutdown, drain).await
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

fn annotations_label(t: &ServedTool) -> String {
    let a = t.attributes();
    if matches!(t, ServedTool::Bridged(_)) {
        // Bridged hints are shown as Backstage resolved them.
        return [
            if a.read_only { 'R' } else { '-' },
            if a.destructive { 'D' } else { '-' },
            if a.idempotent { 'I' } else { '-' },
        ]
        .iter()
        .collect();
    }
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

/// `stagedoor tools`: prints the tools of a server as a table or JSON. Bridged actions are
/// listed from Backstage first when plugin sources are configured.
pub async fn list_tools(settings: &Settings, json_out: bool, server_key: Option<&str>) -> i32 {
    if let Some(key) = server_key
        && !settings.servers.named.iter().any(|n| n.key == key)
    {
        eprintln!("stagedoor: {}", unknown_server(settings, key));
        return EXIT_USAGE;
    }
    let registry = match portal(settings).await {
        Ok(portal) => {
            let registry = registry(settings, &portal);
            if let Some(bridge) = registry.bridge() {
                bridge.refresh().await;
                if let Some(status) = bridge.actions().status() {
                    for (source, s) in &status.sources {
                        if let Some(e) = &s.error {
                            eprintln!("stagedoor: actions source {source}: {e}");
                        }
                    }
                }
            }
            registry
        }
        Err(msg) if !settings.actions.plugin_sources.is_empty() && settings.servers.bridged => {
            eprintln!("stagedoor: cannot list bridged actions: {msg}");
            return EXIT_USAGE;
        }
        // Without a Backstage the curated tools can still be shown.
        Err(_) => Registry::new(
            &settings.servers,
            Access::from_settings(settings, settings.catalog.is_some()),
            None,
            std::time::Duration::ZERO,
        ),
    };
    for line in warn_unmatched_rules(&registry) {
        eprintln!("stagedoor: warning: {line}");
    }
    let index = registry.index_of(server_key).unwrap_or(0);
    let view = registry.view(index);
    // The operator at the terminal: what an unrestricted caller of this server sees.
    let server = server_key.unwrap_or("default");
    let access = registry.access();
    let shown: Vec<(&ServedTool, Value)> = view
        .tools
        .iter()
        .zip(mcp::view_json(&view))
        .filter(|(t, _)| {
            access
                .refusal(&Principal::Local, server, &t.facts())
                .is_none()
        })
        .collect();
    if json_out {
        let listed: Vec<Value> = shown
            .into_iter()
            .map(|(t, mut v)| {
                if let Value::Object(m) = &mut v {
                    m.insert("id".into(), json!(t.id()));
                    m.insert("group".into(), json!(t.group().as_str()));
                }
                v
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
    let name_w = shown
        .iter()
        .map(|(t, _)| t.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let id_w = shown
        .iter()
        .map(|(t, _)| t.id().len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:name_w$}  {:id_w$}  GROUP    HINTS  DESCRIPTION",
        "NAME", "ID"
    );
    for (t, _) in &shown {
        println!(
            "{:name_w$}  {:id_w$}  {:7}  {}    {}",
            t.name(),
            t.id(),
            t.group().as_str(),
            annotations_label(t),
            tools::shape::truncate_chars(&t.summary(), 100),
        );
    }
    println!("\nHINTS: R read-only, D destructive, I idempotent.");
    if access.read_only {
        println!(
            "Read-only (server.readOnly / --read-only): tools that change something are not served."
        );
    }
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
    let registry = registry(&settings, &portal);
    if let Some(bridge) = registry.bridge() {
        bridge.refresh().await;
    }
    for w in settings.warnings() {
        println!("warning: {w}");
    }
    let d =
        crate::portal::health::diagnose(&portal, registry.bridge().map(|b| b.actions().as_ref()))
            .await;
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
    let mut actions_ok = true;
    if let Some(a) = &d.actions {
        println!("# Actions Registry ({} actions)", a.actions);
        for (source, s) in &a.sources {
            actions_ok &= s.ok;
            println!(
                "actions {source:<11} {}{}{}",
                if s.ok { "ok" } else { "FAIL" },
                format_args!(" - {} actions", s.actions),
                s.error
                    .as_ref()
                    .map(|e| format!(" - {e}"))
                    .unwrap_or_default()
            );
            for skipped in &s.skipped {
                println!("  skipped: {skipped}");
            }
        }
        let view = registry.view(0);
        let bridged = view
            .tools
            .iter()
            .filter(|t| matches!(t, ServedTool::Bridged(_)))
            .count();
        println!(
            "tools: {} served at /mcp ({} curated, {bridged} bridged)",
            view.tools.len(),
            view.tools.len() - bridged
        );
    }
    for line in warn_unmatched_rules(&registry) {
        println!("warning: {line}");
    }
    for a in &d.advice {
        println!("advice: {a}");
    }
    let catalog_ok = d.plugins.get("catalog").is_some_and(|p| p.ok);
    if d.reachable && catalog_ok && actions_ok {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}
