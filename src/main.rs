//! `supabackup`: with no arguments, the desktop app; with a subcommand, the CLI.

use clap::Parser;
use supabackup::cli::{self, Cli};

fn main() {
    let args = Cli::parse();
    if args.command.is_none() {
        // The desktop app arrives with its own issue; until then, usage.
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        std::process::exit(0);
    }
    std::process::exit(cli::run(args));
}
