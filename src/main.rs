//! The `tickcast` binary: load the configuration, start logging, run the server until
//! SIGTERM or Ctrl-C, then shut down gracefully (every session gets close 1001).

use std::process::ExitCode;
use tickcast::config::Settings;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => match args.next() {
                Some(path) => file = Some(path),
                None => return usage("--config needs a path"),
            },
            "-h" | "--help" => {
                println!(
                    "usage: tickcast [--config PATH]\nenvironment: TICKCAST__SECTION__KEY=value overrides config keys"
                );
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let (settings, source) = match Settings::load(file.as_deref(), std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tickcast: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.log.filter.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()))
        .init();
    tracing::info!(config = %source, "configuration loaded");
    let server = match tickcast::Server::new(settings).start() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let signals = tokio::runtime::Builder::new_current_thread().enable_all().build();
    match signals {
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
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received"),
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("tickcast: {msg}\nusage: tickcast [--config PATH]");
    ExitCode::from(2)
}
