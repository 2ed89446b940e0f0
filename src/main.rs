//! `supabackup`: with no arguments, the desktop app; with a subcommand, the CLI.

use clap::Parser;
use supabackup::cli::{self, Cli};

fn main() {
    let args = Cli::parse();
    if args.command.is_none() {
        std::process::exit(desktop(&args));
    }
    std::process::exit(cli::run(args));
}

/// Opens the desktop app on the data dir.
#[cfg(feature = "gui")]
fn desktop(args: &Cli) -> i32 {
    match supabackup::datadir::DataDir::resolve(args.data_dir.as_deref()) {
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
    }
}

/// A headless build has no window: say so and how to use it.
#[cfg(not(feature = "gui"))]
fn desktop(_args: &Cli) -> i32 {
    eprintln!(
        "this supabackup is the headless build (no desktop app): use a subcommand, see \
         `supabackup --help`"
    );
    2
}
