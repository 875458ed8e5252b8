//! The `tickcast` binary: the arena demo game behind [`tickcast::run`]. Parses
//! `--config PATH`; everything else (config, logging, signals, graceful shutdown) is the
//! library's.

use std::process::ExitCode;

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
    tickcast::run(file.as_deref(), tickcast::game::arena_factory())
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("tickcast: {msg}\nusage: tickcast [--config PATH]");
    ExitCode::from(2)
}
