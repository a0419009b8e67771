//! stagedoor: one binary that serves the Model Context Protocol to AI assistants and answers
//! from a Backstage developer portal.
//!
//! # Layout
//!
//! Dependencies point one way, down this list:
//! - [`cli`] and `main.rs`: parse flags, load config, map errors to exit codes.
//! - [`config`]: layered YAML + environment → validated [`config::Settings`].
//! - [`transport`]: stdio and Streamable HTTP (`/mcp[/<key>]`, `/api/mcp-actions/v1[/<key>]`,
//!   `/healthz`, `/readyz`).
//! - [`listener`]: the accept loop (connection caps, header timeout) and the body guard.
//! - [`mcp`]: the only module that speaks rmcp's types; one handler per server.
//! - [`servers`]: the default and named servers and the tool view of each.
//! - [`filter`]: include/exclude rules with the official plugin's semantics.
//! - [`tools`]: curated tools, protocol-free; failures are `isError` results.
//! - [`bridge`]: Actions Registry actions as tools (discovery, naming, invocation).
//! - [`portal`]: Backstage as the tools see it (client + cache).
//! - [`auth`]: who may call what over HTTP (tokens, OAuth), rate and stream limits.
//! - [`audit`]: one JSON line per tool call, secrets redacted.
//! - [`portal`]: Backstage as the tools see it (client + cache), or the local catalog.
//! - [`local`]: catalog files served without Backstage (load, validate, relations, query, watch).
//! - [`readiness`]: `/readyz` from a cached Backstage probe.
//! - [`shutdown`]: one cancellation token for SIGINT/SIGTERM, and a hard deadline after it.
//! - [`logging`]: a lossy, non-blocking stderr writer; quiet exit on a closed stdout.
//! - [`drain`]: the HTTP transport's graceful drain (readiness 503, then stop).

pub mod access;
pub mod audit;
pub mod auth;
pub mod bridge;
pub mod cli;
pub mod config;
pub mod drain;
pub mod filter;
pub mod listener;
pub mod local;
pub mod logging;
pub(crate) mod markdown;
pub mod mcp;
pub mod portal;
pub mod readiness;
pub mod servers;
pub mod shutdown;
pub mod tool;
pub mod tools;
pub mod transport;
pub mod words;
