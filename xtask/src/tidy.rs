//! `cargo xtask tidy`: the repository's conventions as failing checks.
//!
//! Each check reads files and reports every breach it finds, with the file
//! it is in, so one run lists everything to fix.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Crates that may depend on several concern crates (they compose them).
const COMPOSERS: &[&str] = &["turngate-sim", "turngate-server", "turngate-tests", "turngate-chaos"];
/// The concern crates, which never depend on each other.
const CONCERNS: &[&str] = &["turngate-telephony", "turngate-llm", "turngate-coord"];

pub(crate) fn run() -> anyhow::Result<()> {
    let root = crate::root();
    let mut problems = Vec::new();
    let manifests = manifests(&root)?;
    for manifest in &manifests {
        check_manifest(&root, manifest, &mut problems)?;
    }
    check_core_sources(&root, &mut problems)?;
    check_all_sources(&root, &mut problems)?;
    if problems.is_empty() {
        println!("tidy: {} manifests and their sources follow the conventions", manifests.len());
        return Ok(());
    }
    for problem in &problems {
        eprintln!("tidy: {problem}");
    }
    bail!("{} convention breaches", problems.len())
}

/// Every member manifest: the crates, xtask, and end-to-end tests and examples.
fn manifests(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = vec![root.join("xtask/Cargo.toml")];
    for folder in ["crates", "examples"] {
        let Ok(entries) = fs::read_dir(root.join(folder)) else { continue };
        for entry in entries {
            let manifest = entry?.path().join("Cargo.toml");
            if manifest.exists() {
                found.push(manifest);
            }
        }
    }
    if root.join("tests/Cargo.toml").exists() {
        found.push(root.join("tests/Cargo.toml"));
    }
    found.sort();
    Ok(found)
}

fn check_manifest(root: &Path, path: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let shown = path.strip_prefix(root).unwrap_or(path).display().to_string();
    let name = package_name(&text).unwrap_or_default();

    if !section(&text, "lints").iter().any(|l| l.replace(' ', "") == "workspace=true") {
        problems.push(format!(
            "{shown}: does not opt into the workspace lints (`[lints] workspace = true`)"
        ));
    }

    // Folder names equal package names, so greps and renames stay trivial.
    let folder =
        path.parent().and_then(Path::file_name).and_then(|f| f.to_str()).unwrap_or_default();
    let expected = match path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|f| f.to_str())
    {
        Some("examples") => format!("example-{folder}"),
        _ if folder == "tests" => "turngate-tests".to_owned(),
        _ => folder.to_owned(),
    };
    if name != expected {
        problems
            .push(format!("{shown}: package `{name}` lives in a folder that says `{expected}`"));
    }

    let mut normal = Vec::new();
    for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
        for line in section(&text, table) {
            let Some((dep, spec)) = line.split_once('=') else { continue };
            let (dep, spec) = (dep.trim().trim_end_matches(".workspace"), spec.trim());
            // Versions live in the root manifest, once.
            if !line.replace(' ', "").contains("workspace=true") {
                problems.push(format!(
                    "{shown}: `{dep}` is not declared with `workspace = true` ({spec})"
                ));
            }
            if table == "dependencies" {
                normal.push(dep.to_owned());
            }
        }
    }

    // What a crate does not depend on matters most.
    let turngate: Vec<&String> = normal.iter().filter(|d| d.starts_with("turngate-")).collect();
    match name.as_str() {
        "turngate-core" => {
            for dep in normal.iter().filter(|d| *d != "serde") {
                problems.push(format!("{shown}: the core depends on serde only, not on `{dep}`"));
            }
        }
        "turngate-audio" => {
            for dep in &turngate {
                problems.push(format!(
                    "{shown}: audio depends on no other turngate crate, not on `{dep}`"
                ));
            }
        }
        _ if CONCERNS.contains(&name.as_str()) => {
            for dep in turngate.iter().filter(|d| CONCERNS.contains(&d.as_str())) {
                problems
                    .push(format!("{shown}: concern crates never depend on each other (`{dep}`)"));
            }
        }
        _ if !COMPOSERS.contains(&name.as_str()) && name.starts_with("turngate-") => {
            let concerns = turngate.iter().filter(|d| CONCERNS.contains(&d.as_str())).count();
            if concerns > 1 {
                problems.push(format!(
                    "{shown}: only the sim and the server compose several concern crates"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The core is sans-IO: no clock, no async, no runtime, no IO, no locks.
fn check_core_sources(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    const FORBIDDEN: &[(&str, &str)] = &[
        ("Instant::now", "reads the clock"),
        ("SystemTime", "reads the clock"),
        ("async ", "is async"),
        (".await", "is async"),
        ("tokio", "uses an async runtime"),
        ("std::thread", "spawns threads"),
        ("std::net", "does network IO"),
        ("std::fs", "does file IO"),
        ("std::io", "does IO"),
        ("Mutex", "holds locks"),
        ("RwLock", "holds locks"),
        ("println!", "prints"),
    ];
    for file in rust_files(&root.join("crates/turngate-core/src"))? {
        if is_test_file(&file) {
            continue;
        }
        let text = fs::read_to_string(&file)?;
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (needle, what) in FORBIDDEN {
                if code.contains(needle) {
                    let shown = file.strip_prefix(root).unwrap_or(&file).display();
                    problems
                        .push(format!("{shown}:{}: turngate-core {what} (`{needle}`)", number + 1));
                }
            }
        }
    }
    Ok(())
}

/// Stub macros, spelled in pieces so this file does not match itself.
const STUBS: &[&str] = &[concat!("to", "do!("), concat!("unimple", "mented!(")];

/// Tests that do not run, or that pass by panicking, prove nothing.
fn check_all_sources(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for folder in ["crates", "xtask", "tests", "examples"] {
        files.extend(rust_files(&root.join(folder))?);
    }
    for file in files {
        let text = fs::read_to_string(&file)?;
        let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("#[ignore") || trimmed.starts_with("#[should_panic") {
                problems
                    .push(format!("{shown}:{}: no `#[ignore]` or `#[should_panic]`", number + 1));
            }
            if !is_test_file(&file) && STUBS.iter().any(|stub| line.contains(stub)) {
                problems.push(format!("{shown}:{}: a stub is not done", number + 1));
            }
            if line.ends_with(' ') || line.ends_with('\t') {
                problems.push(format!("{shown}:{}: trailing whitespace", number + 1));
            }
        }
    }
    Ok(())
}

fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|f| f == "tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
}

fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return Ok(found) };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            // The fuzzers' own build output is not ours to tidy.
            if name != "target" {
                found.extend(rust_files(&path)?);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
    Ok(found)
}

fn package_name(manifest: &str) -> Option<String> {
    section(manifest, "package").into_iter().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The non-empty, non-comment lines of a `[table]` (not its sub-tables).
fn section<'a>(manifest: &'a str, table: &str) -> Vec<&'a str> {
    let header = format!("[{table}]");
    manifest
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[cfg(test)]
mod tests;
