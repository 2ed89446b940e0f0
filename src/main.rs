//! `supabackup`: with no arguments, the desktop app; with a subcommand, the CLI.

use clap::Parser;
use supabackup::cli::{self, Cli};

fn main() {
    let args = Cli::parse();
    if args.command.is_none() {
        let code = match supabackup::datadir::DataDir::resolve(args.data_dir.as_deref()) {
            Ok(dd) => match supabackup::app::run(dd) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            },
            Err(e) => {
                eprintln!("error: cannot find a data dir: {e}: pass --data-dir DIR");
                2
            }
        };
        std::process::exit(code);
    }
    std::process::exit(cli::run(args));
}
