//! stagedoor: one binary that serves the Model Context Protocol to AI assistants and answers
//! from a Backstage developer portal.
//!
//! # Layout
//!
//! Dependencies point one way, down this list:
//! - [`cli`] and `main.rs`: parse flags, load config, map errors to exit codes.
//! - [`config`]: layered YAML + environment → validated [`config::Settings`].
//! - [`transport`]: stdio and Streamable HTTP (`/mcp`, `/healthz`, `/readyz`).
//! - [`mcp`]: the only module that speaks rmcp's types.
//! - [`tools`]: curated tools, protocol-free; failures are `isError` results.
//! - [`portal`]: Backstage as the tools see it (client + cache), or the local catalog.
//! - [`local`]: catalog files served without Backstage (load, validate, relations, query, watch).
//! - [`shutdown`]: one cancellation token for SIGINT/SIGTERM.

pub mod cli;
pub mod config;
pub mod local;
pub mod mcp;
pub mod portal;
pub mod shutdown;
pub mod tools;
pub mod transport;
