//! `make bench` then `make test` compile Burn once: the dependencies get the same
//! cargo features whether or not the dev-dependencies are part of the build. Cargo
//! turns a crate's features on per build, so a feature that only a dev-dependency
//! enables (in a crate Burn also uses) makes the test build compile Burn again, for
//! about 9 minutes. Cargo.toml names those features among the normal dependencies;
//! this test fails, naming the crates, when a dependency change brings a new one.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// `crate version` → its features, as `cargo tree` resolves them over `edges`.
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree", "--frozen", "--prefix", "none", "-f", "{p} {f}", "-e", edges,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -e {edges}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let entry = map.entry(format!("{name} {version}")).or_default();
        for word in words.filter(|w| !w.starts_with('(')) {
            entry.extend(word.split(',').filter(|f| !f.is_empty()).map(String::from));
        }
    }
    map
}

#[test]
fn dev_dependencies_turn_on_no_feature_of_a_shared_dependency() {
    let build = features("normal,build");
    let test = features("normal,build,dev");
    assert!(
        build.len() > 100,
        "cargo tree listed {} crates",
        build.len()
    );
    let drift: Vec<String> = build
        .iter()
        .filter_map(|(krate, on)| {
            let extra: Vec<&String> = test.get(krate)?.difference(on).collect();
            (!extra.is_empty()).then(|| format!("{krate}: {extra:?}"))
        })
        .collect();
    assert!(
        drift.is_empty(),
        "the test build would compile these crates (and Burn above them) a second time; \
         name the features in Cargo.toml's one-build block:\n{}",
        drift.join("\n")
    );
}
