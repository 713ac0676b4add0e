//! Man pages and shell completions, generated from the command-line
//! definition itself (`clap_mangen`, `clap_complete`), so they never drift
//! from `--help`. `testing/package.sh` runs the `generate-docs` binary
//! (`src/bin/generate-docs.rs`) and the .deb installs the result where
//! Debian looks for it.
//!
//! Owns: the file names and layout under the output directory
//! (`man/kafka-self-healing[-SUB].1`, `completions/{bash,zsh,fish}`).
//! Must never: be needed at run time (nothing reads these files).

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The binary's name, as on the command line and in the man pages.
const NAME: &str = "kafka-self-healing";

/// Writes every man page and completion script under `out`; returns the files written.
pub fn generate(out: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    let man = out.join("man");
    std::fs::create_dir_all(&man)?;
    // Built, every subcommand knows its full name (`kafka-self-healing incidents reset`) for its synopsis.
    let mut command = Cli::command().bin_name(NAME);
    command.build();
    pages(&command, NAME, &man, &mut written)?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in
        [(Shell::Bash, NAME.to_string()), (Shell::Zsh, format!("_{NAME}")), (Shell::Fish, format!("{NAME}.fish"))]
    {
        let path = completions.join(file);
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), NAME, &mut script);
        let mut script = String::from_utf8_lossy(&script).into_owned();
        if shell == Shell::Bash {
            // clap_complete spells the subcommands' case labels of a hyphenated
            // binary differently from the state it builds (clap-rs/clap#6421):
            // without this, no subcommand's options ever complete.
            script = script.replace("kafka__subcmd__self__subcmd__healing", "kafka__self__healing");
        }
        std::fs::write(&path, script)?;
        written.push(path);
    }
    Ok(written)
}

/// The page of `command` (named `name`), then one per visible subcommand, `name-sub`.
fn pages(
    command: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    let page = command.clone().name(name.to_string());
    let path = dir.join(format!("{name}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    std::fs::write(&path, buf)?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
