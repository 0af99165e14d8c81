use clap::Parser;

use mosagg::cli::{Cli, dispatch};

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse();
    match dispatch(cli, argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
