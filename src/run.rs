//! What a server binary's `main` does, in one call: load the configuration (embedded
//! defaults, an optional file, `TICKCAST__*` variables), start logging, run the server
//! with the given game until SIGTERM or Ctrl-C, then shut down gracefully (every session
//! gets close 1001). The `tickcast` binary and a game's own binary both use it.

use crate::config::Settings;
use crate::game::GameFactory;
use crate::Server;
use std::process::ExitCode;

/// Runs a server with `game` until SIGTERM or Ctrl-C. Exit code 2 for an invalid
/// configuration (the message names the key), 1 if the server cannot start.
pub fn run(config_file: Option<&str>, game: GameFactory) -> ExitCode {
    let (settings, source) = match Settings::load(config_file, std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tickcast: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.log.filter.clone());
    // A game may have installed its own subscriber already; keep it then.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()))
        .try_init();
    tracing::info!(config = %source, "configuration loaded");
    let server = match Server::new(settings).game(game).start() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(wait_for_signal()),
        Err(e) => tracing::error!("cannot wait for signals: {e}"),
    }
    server.shutdown();
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
