//! `generate-docs DIR`: the man pages and shell completions of
//! `kafka-self-healing` into DIR (`testing/package.sh`, for the .deb).

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: generate-docs DIR");
        return ExitCode::from(2);
    };
    let dir = std::path::PathBuf::from(dir);
    match kafka_self_healing::cli_docs::generate(&dir) {
        Ok(files) => {
            println!("{} files in {}", files.len(), dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("generate-docs: cannot write into {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
