//! The configuration table of `docs/operating.md` against the code: every `JOBS_*`
//! variable a Rust source file of the workspace names has its row, and every row names a
//! variable some source file reads, so the table and the code cannot drift apart.

use std::collections::BTreeSet;
use std::path::Path;

const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const CRATES: [&str; 4] = ["job-core", "lambdas", "data-processor", "local-dev"];

/// The `"JOBS_…"` string literals in `text`.
fn variables_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("\"JOBS_").filter_map(|(at, _)| {
        let rest = &text[at + 1..];
        let end = rest.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))?;
        (rest[end..].starts_with('"') && end > "JOBS_".len()).then(|| rest[..end].to_owned())
    })
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("config_doc_tests.rs") {
            found.push(path);
        }
    }
}

/// The variables the code reads (test files included: a variable only tests set is still a setting).
fn read_by_code() -> BTreeSet<String> {
    let mut files = Vec::new();
    for krate in CRATES {
        rust_files(&Path::new(WORKSPACE).join(krate).join("src"), &mut files);
    }
    files
        .iter()
        .flat_map(|f| variables_in(&std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>())
        .collect()
}

/// The variables of the table's first column under `## Configuration`.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(Path::new(WORKSPACE).join("docs/operating.md")).unwrap();
    let section = doc
        .split("\n## Configuration")
        .nth(1)
        .expect("docs/operating.md has ## Configuration");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|row| row.split(" | ").next())
        .flat_map(|cell| {
            cell.split('`')
                .filter(|part| part.starts_with("JOBS_"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_setting_the_code_reads_is_documented_and_every_documented_one_is_read() {
    let (code, table) = (read_by_code(), documented());
    assert!(code.len() > 20 && table.len() > 20, "{code:?} {table:?}");
    let undocumented: Vec<_> = code.difference(&table).collect();
    let unread: Vec<_> = table.difference(&code).collect();
    assert!(
        undocumented.is_empty(),
        "read by the code, missing from docs/operating.md's table: {undocumented:?}"
    );
    assert!(
        unread.is_empty(),
        "in docs/operating.md's table, read by no code: {unread:?}"
    );
}

#[test]
fn variables_are_found_in_literals_only() {
    let found: Vec<String> = variables_in(r#"var("JOBS_A_B") "JOBS_" "JOBS_x" JOBS_C "JOBS_D""#).collect();
    assert_eq!(found, ["JOBS_A_B", "JOBS_D"]);
}
