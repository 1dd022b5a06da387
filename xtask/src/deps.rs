//! `cargo xtask check-deps`: the layering rules of ARCHITECTURE.md, enforced.
//!
//! Reads the manifests through `cargo metadata` (declared dependencies, so the
//! check does not depend on which features another member turns on) and checks:
//!
//! 1. every workspace package is classified here (a new crate must be placed in a layer);
//! 2. dependencies point down: a package uses workspace crates of lower layers only,
//!    plus the exceptions listed in [`EXCEPTIONS`]; dev-dependencies may also use
//!    crates of the same layer (test data from the simulator) but never higher ones;
//! 3. native libraries and runtime crates are direct dependencies of their owners only
//!    ([`OWNED`]): libhdf5 of `sim` and `hdf5-ingest`, casacore of `ms-writer`, cfitsio
//!    of `fits`, SQLite of `queue`, tokio/axum/the exporter of the service layer;
//! 4. the fallback converter links no HTTP server, file watcher or Prometheus exporter:
//!    `cargo tree -p dsa110-legacy-convert -e normal` (features resolved for that
//!    binary alone) holds none of [`FALLBACK_FORBIDDEN`];
//! 5. the API links no native format library and no crate that does the pipeline's
//!    work: `cargo tree -p dsa110-api -e normal` holds none of [`API_FORBIDDEN`].

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util;

/// Layer of each workspace package (L3 = binaries and tooling).
const LAYERS: &[(&str, u8)] = &[
    ("dsa110-astro", 0),
    ("dsa110-test-support", 0),
    ("dsa110-fits", 1),
    ("dsa110-service", 1),
    ("dsa110-sim", 1),
    ("dsa110-hdf5-ingest", 1),
    ("dsa110-queue", 1),
    ("dsa110-ms-writer", 1),
    ("dsa110-calibration", 1),
    ("dsa110-imaging", 1),
    ("dsa110-photometry", 1),
    ("dsa110-pipeline-core", 2),
    ("dsa110-stream", 3),
    ("dsa110-legacy-convert", 3),
    ("dsa110-tools", 3),
    ("dsa110-api", 3),
    ("xtask", 3),
];

/// Allowed same-layer (normal) dependencies, with the reason in ARCHITECTURE.md:
/// science crates read and write their data through the format crates.
const EXCEPTIONS: &[(&str, &str)] = &[
    ("dsa110-calibration", "dsa110-ms-writer"),
    ("dsa110-imaging", "dsa110-ms-writer"),
    ("dsa110-imaging", "dsa110-fits"),
    ("dsa110-photometry", "dsa110-fits"),
];

/// External crates that only their owners may depend on directly (normal or build).
const OWNED: &[(&str, &[&str])] = &[
    ("hdf5", &["dsa110-sim", "dsa110-hdf5-ingest"]),
    ("hdf5-metno", &["dsa110-sim", "dsa110-hdf5-ingest"]),
    ("hdf5-metno-sys", &["dsa110-sim", "dsa110-hdf5-ingest"]),
    ("rubbl_casatables", &["dsa110-ms-writer"]),
    ("fitsio", &["dsa110-fits"]),
    ("fitsio-sys", &["dsa110-fits"]),
    ("rusqlite", &["dsa110-queue"]),
    ("r2d2_sqlite", &["dsa110-queue"]),
    ("libsqlite3-sys", &["dsa110-queue"]),
    (
        "tokio",
        &[
            "dsa110-service",
            "dsa110-pipeline-core",
            "dsa110-stream",
            "dsa110-legacy-convert",
            "dsa110-tools",
            "dsa110-api",
        ],
    ),
    ("axum", &["dsa110-service", "dsa110-stream", "dsa110-api"]),
    ("metrics-exporter-prometheus", &["dsa110-service"]),
    ("notify", &["dsa110-pipeline-core"]),
];

/// What the fallback converter must not link.
const FALLBACK_FORBIDDEN: &[&str] = &["axum", "notify", "metrics-exporter-prometheus", "hyper"];

/// What the API must not link: no native HDF5/casacore/cfitsio, and none of the
/// crates that bring them or that do the pipeline's work (it only records jobs).
const API_FORBIDDEN: &[&str] = &[
    "hdf5",
    "hdf5-metno",
    "hdf5-metno-sys",
    "hdf5-sys",
    "rubbl_casatables",
    "rubbl_core",
    "fitsio",
    "fitsio-sys",
    "dsa110-pipeline-core",
    "dsa110-ms-writer",
    "dsa110-hdf5-ingest",
    "dsa110-sim",
    "dsa110-calibration",
    "dsa110-imaging",
    "dsa110-photometry",
    "dsa110-fits",
];

/// One declared dependency of a workspace package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The dependency's package name.
    pub name: String,
    /// `None` (normal), `"dev"` or `"build"`.
    pub kind: Option<String>,
}

/// The workspace's packages and their declared dependencies.
pub type Graph = BTreeMap<String, Vec<Dep>>;

/// `cargo xtask check-deps`.
pub fn run() -> Result<()> {
    let graph = workspace_graph()?;
    let mut problems = check_graph(&graph);
    problems.extend(check_fallback_tree()?);
    problems.extend(check_api_tree()?);
    if problems.is_empty() {
        util::step(&format!(
            "dependency rules hold for {} workspace packages; dsa110-legacy-convert links none of {}; dsa110-api links none of {}",
            graph.len(),
            FALLBACK_FORBIDDEN.join(", "),
            API_FORBIDDEN.join(", ")
        ));
        return Ok(());
    }
    bail!(
        "{} dependency rule(s) broken (see ARCHITECTURE.md, \"Layers\"):\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}

fn workspace_graph() -> Result<Graph> {
    let text = util::output(
        util::cmd(util::cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(util::workspace_root()),
    )?;
    let meta: Value = serde_json::from_str(&text).context("parsing `cargo metadata`")?;
    let packages = meta["packages"]
        .as_array()
        .context("`cargo metadata` has no packages array")?;
    let mut graph = Graph::new();
    for p in packages {
        let name = p["name"].as_str().context("package without a name")?;
        let deps = p["dependencies"]
            .as_array()
            .context("package without dependencies array")?
            .iter()
            .map(|d| Dep {
                name: d["name"].as_str().unwrap_or_default().to_string(),
                kind: d["kind"].as_str().map(str::to_string),
            })
            .collect();
        graph.insert(name.to_string(), deps);
    }
    Ok(graph)
}

fn layer(pkg: &str) -> Option<u8> {
    LAYERS.iter().find(|(n, _)| *n == pkg).map(|(_, l)| *l)
}

/// The rules on declared dependencies; one line per broken rule.
pub fn check_graph(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for (pkg, deps) in graph {
        let Some(own) = layer(pkg) else {
            problems.push(format!(
                "{pkg}: not placed in a layer (add it to LAYERS in xtask/src/deps.rs and to ARCHITECTURE.md)"
            ));
            continue;
        };
        for d in deps {
            let normal = d.kind.as_deref() != Some("dev");
            if let Some(theirs) = layer(&d.name) {
                let excepted = EXCEPTIONS.contains(&(pkg.as_str(), d.name.as_str()));
                let ok =
                    theirs < own || own == 3 || excepted || (!normal && theirs == own && own < 2);
                if !ok {
                    let kind = d.kind.as_deref().unwrap_or("normal");
                    problems.push(format!(
                        "{pkg} (L{own}) depends on {} (L{theirs}, {kind} dependency): dependencies must point down",
                        d.name
                    ));
                }
            } else if normal {
                if let Some((_, owners)) = OWNED.iter().find(|(n, _)| *n == d.name) {
                    if !owners.contains(&pkg.as_str()) {
                        problems.push(format!(
                            "{pkg} depends directly on {}, which only {} may use",
                            d.name,
                            owners.join(", ")
                        ));
                    }
                }
            }
        }
    }
    problems
}

fn check_fallback_tree() -> Result<Vec<String>> {
    Ok(forbidden_in_tree(&normal_tree("dsa110-legacy-convert")?))
}

fn check_api_tree() -> Result<Vec<String>> {
    Ok(api_forbidden_in_tree(&normal_tree("dsa110-api")?))
}

/// `cargo tree -p <package> -e normal`, one package name and version a line.
fn normal_tree(package: &str) -> Result<String> {
    util::output(
        util::cmd(util::cargo())
            .args([
                "tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}",
            ])
            .current_dir(util::workspace_root()),
    )
}

/// Lines of a `cargo tree --prefix none --format {p}` listing that name a crate the
/// fallback converter must not link.
pub fn forbidden_in_tree(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FALLBACK_FORBIDDEN.contains(name))
        .map(|name| format!("dsa110-legacy-convert links {name} (cargo tree -p dsa110-legacy-convert -e normal)"))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Lines of a `cargo tree --prefix none --format {p}` listing of `dsa110-api` that
/// name a crate the API must not link.
pub fn api_forbidden_in_tree(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| API_FORBIDDEN.contains(name))
        .map(|name| format!("dsa110-api links {name} (cargo tree -p dsa110-api -e normal): the API reads the database and files only"))
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, kind: Option<&str>) -> Dep {
        Dep {
            name: name.to_string(),
            kind: kind.map(str::to_string),
        }
    }

    /// The workspace as it is must pass; the same graph with one forbidden edge added
    /// must fail, naming it. Each deliberate break is checked separately.
    #[test]
    fn the_real_workspace_passes_and_each_deliberate_break_is_caught() {
        let graph = workspace_graph().unwrap();
        assert!(graph.contains_key("dsa110-pipeline-core"), "{graph:?}");
        assert_eq!(check_graph(&graph), Vec::<String>::new());

        let breaks: [(&str, Dep, &str); 7] = [
            // a science crate reaching up to the orchestration layer
            (
                "dsa110-imaging",
                dep("dsa110-pipeline-core", None),
                "must point down",
            ),
            // an L1 crate using another L1 crate without a written exception
            (
                "dsa110-photometry",
                dep("dsa110-queue", None),
                "must point down",
            ),
            // a test of an L1 crate using the service layer above it
            (
                "dsa110-fits",
                dep("dsa110-pipeline-core", Some("dev")),
                "must point down",
            ),
            // casacore linked outside the MS crate
            (
                "dsa110-pipeline-core",
                dep("rubbl_casatables", None),
                "only dsa110-ms-writer",
            ),
            // the fallback converter taking the HTTP server
            ("dsa110-legacy-convert", dep("axum", None), "which only"),
            // tokio in a science crate
            ("dsa110-calibration", dep("tokio", None), "which only"),
            // the API talking SQL itself instead of through the queue crate
            ("dsa110-api", dep("rusqlite", None), "which only"),
        ];
        for (pkg, d, needle) in breaks {
            let mut g = graph.clone();
            g.get_mut(pkg).unwrap().push(d.clone());
            let problems = check_graph(&g);
            assert_eq!(problems.len(), 1, "{pkg} -> {d:?}: {problems:?}");
            assert!(
                problems[0].contains(pkg)
                    && problems[0].contains(&d.name)
                    && problems[0].contains(needle),
                "{problems:?}"
            );
        }

        let mut g = graph.clone();
        g.insert("dsa110-newcrate".into(), vec![]);
        assert!(check_graph(&g)[0].contains("not placed in a layer"));
    }

    #[test]
    fn the_fallback_tree_check_finds_a_linked_server() {
        let tree = "dsa110-legacy-convert v0.1.0\ndsa110-pipeline-core v0.1.0\naxum v0.8.4\nnotify v8.0.0\nhyper-util v0.1\n";
        let found = forbidden_in_tree(tree);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("axum") && found[1].contains("notify"));
        assert!(forbidden_in_tree("dsa110-legacy-convert v0.1.0\ntokio v1\n").is_empty());
    }

    #[test]
    fn the_api_tree_check_finds_native_and_pipeline_crates() {
        let tree = "dsa110-api v0.1.0\ndsa110-queue v0.1.0\naxum v0.8.9\ndsa110-imaging v0.1.0\nhdf5-metno v0.15\nfitsio v0.21\n";
        let found = api_forbidden_in_tree(tree);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().any(|f| f.contains("hdf5-metno")));
        assert!(found.iter().any(|f| f.contains("dsa110-imaging")));
        assert!(
            api_forbidden_in_tree("dsa110-api v0.1.0\ndsa110-queue v0.1.0\naxum v0.8.9\n")
                .is_empty()
        );
    }

    /// The real API binary links no native format library and no pipeline crate.
    #[test]
    fn the_api_links_no_native_library() {
        assert_eq!(check_api_tree().unwrap(), Vec::<String>::new());
    }

    /// The real fallback binary, features resolved for it alone.
    #[test]
    fn the_fallback_converter_links_no_server() {
        assert_eq!(check_fallback_tree().unwrap(), Vec::<String>::new());
    }
}
