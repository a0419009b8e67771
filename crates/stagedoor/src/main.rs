//! The `stagedoor` binary: parse the command line, load configuration, run, map to exit codes.

use clap::Parser;
use stagedoor::cli::{self, Cli, Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use stagedoor::config::ProcessEnv;

fn main() {
    stagedoor::logging::exit_quietly_on_broken_stdout();
    let code = run();
    stagedoor::logging::flush(std::time::Duration::from_secs(1));
    std::process::exit(code);
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => EXIT_OK,
                _ => EXIT_USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    let (args, transport, listen) = match &cli.command {
        Command::Serve {
            config,
            transport,
            listen,
            ..
        } => (config, transport.clone(), listen.clone()),
        Command::Tools { config, .. } | Command::Check { config } => (config, None, None),
    };
    let settings = match cli::load_settings(args, transport, listen, &ProcessEnv) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stagedoor: configuration error: {e}");
            return EXIT_USAGE;
        }
    };
    // `tools` prints its own findings; logs would only repeat them.
    if !matches!(cli.command, Command::Tools { .. }) {
        cli::init_logging(&settings);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stagedoor: cannot start the async runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { server, .. } => cli::serve(settings, server).await,
            Command::Check { .. } => cli::check(settings).await,
            Command::Tools { json, server, .. } => {
                cli::list_tools(&settings, json, server.as_deref()).await
            }
        }
    })
}
