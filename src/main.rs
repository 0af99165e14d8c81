use clap::Parser;

use mosagg::cli::{Cli, dispatch};

fn main() {
    // Arguments are paths, and a path may be any bytes the OS allows: never `args()`,
    // which panics on one that is not UTF-8. The manifest records them as text.
    let argv_os: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv: Vec<String> = argv_os
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = Cli::parse_from(argv_os);
    mosagg::logger::install();
    if let Err(e) = mosagg::cleanup::exit_cleanly_on_signals() {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
    match dispatch(cli, argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
