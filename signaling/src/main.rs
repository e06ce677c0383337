//! `huiyi`: the Huiyi server and its subcommands (`crate::cli`).

fn main() {
    huiyi_signaling::cli::main();
}
