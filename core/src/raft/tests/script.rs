//! Reading a golden script, running it, and comparing or rewriting its expected output.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use super::cluster::Cluster;
use super::commands;

/// The directory holding the scripts.
pub fn testdata_directory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/raft/tests/testdata")
}

/// One command of a script with the comments before it and its expected output.
struct Block {
    /// Comment and blank lines before the command, kept verbatim on rewrite.
    prelude: Vec<String>,
    line_number: usize,
    command: String,
    expected: Vec<String>,
}

/// A parsed script: its blocks and the comment lines after the last one.
struct Script {
    blocks: Vec<Block>,
    epilogue: Vec<String>,
}

fn parse(name: &str, text: &str) -> Script {
    let mut blocks = Vec::new();
    let mut prelude = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((position, line)) = lines.next() {
        if let Some(command) = line.strip_prefix("> ") {
            let mut expected = Vec::new();
            while let Some((_, next)) = lines.next_if(|(_, next)| !is_separator(next)) {
                expected.push(next.to_string());
            }
            let command = command.trim().to_string();
            blocks.push(Block { prelude: std::mem::take(&mut prelude), line_number: position + 1, command, expected });
        } else if line.trim().is_empty() || line.starts_with('#') {
            prelude.push(line.to_string());
        } else {
            panic!("{name}.txt:{}: expected `> command`, `# comment` or a blank line", position + 1);
        }
    }
    Script { blocks, epilogue: prelude }
}

/// Whether a line ends the output of a command.
fn is_separator(line: &str) -> bool {
    line.trim().is_empty() || line.starts_with('#') || line.starts_with("> ")
}

/// The script text with `outputs` as the expected output of each block.
fn render(script: &Script, outputs: &[Vec<String>]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for (position, (block, output)) in script.blocks.iter().zip(outputs).enumerate() {
        lines.extend(block.prelude.iter().cloned());
        lines.push(format!("> {}", block.command));
        lines.extend(output.iter().cloned());
        let next_prelude = script.blocks.get(position + 1).map_or(&script.epilogue, |next| &next.prelude);
        if next_prelude.first().is_some_and(|line| !line.trim().is_empty()) {
            lines.push(String::new());
        }
    }
    lines.extend(script.epilogue.iter().cloned());
    lines.join("\n") + "\n"
}

/// Whether expected output is to be rewritten rather than checked: chosen when
/// the tests are built (`--features update-golden`), so the core reads no
/// environment even in its tests.
fn update_requested() -> bool {
    cfg!(feature = "update-golden")
}

/// Runs the script `testdata/<name>.txt`; panics listing every command whose output
/// differs from the expected one, or rewrites the file when built with `--features update-golden`.
pub fn run(name: &str) {
    let path = testdata_directory().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let script = parse(name, &text);
    let mut cluster: Option<Cluster> = None;
    let mut outputs = Vec::new();
    for block in &script.blocks {
        let location = format!("{name}.txt:{}", block.line_number);
        let result = panic::catch_unwind(AssertUnwindSafe(|| commands::execute(&mut cluster, &block.command)));
        match result {
            Ok(Ok(output)) => outputs.push(output),
            Ok(Err(mistake)) => panic!("{location}: bad command `{}`: {mistake}", block.command),
            Err(payload) => {
                eprintln!("{location}: `{}` panicked (the raft node or the harness asserted)", block.command);
                panic::resume_unwind(payload);
            }
        }
    }
    if update_requested() {
        std::fs::write(&path, render(&script, &outputs)).unwrap_or_else(|error| panic!("writing {name}: {error}"));
        return;
    }
    let mismatches: Vec<String> = script
        .blocks
        .iter()
        .zip(&outputs)
        .filter(|(block, output)| block.expected != **output)
        .map(|(block, output)| {
            format!(
                "{name}.txt:{}: > {}\n--- expected\n{}\n--- actual\n{}\n",
                block.line_number,
                block.command,
                block.expected.join("\n"),
                output.join("\n")
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} command(s) of {name}.txt differ (`--features update-golden` rewrites them):\n\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
