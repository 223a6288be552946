//! `zato`: the command line of a Zato cluster.
//!
//! Every failure ends in one line on standard error, `zato: <what went wrong>`, and exit
//! status 1, so scripts can rely on `$?` and people on the message.

mod cli;
mod client;
mod commands;
mod input;
mod output;
mod quickstart;

use clap::Parser as _;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(error) = commands::run(cli) {
        eprintln!("zato: {error:#}");
        std::process::exit(1);
    }
}
