//! The real binary on the fixture folders of `testdata/deps/`, and on `deploy/flux/`.

use std::path::PathBuf;
use std::process::Command;

use flow_contract::FlowMessage;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_openova-flow-deps"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

fn check(case: &str) -> Run {
    let dir = format!("testdata/deps/{case}");
    let expected = format!("{dir}/expected.yaml");
    run(&["check", &dir, "--expected", &expected])
}

fn lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().collect()
}

#[test]
fn clean_folder_exits_0_skipping_other_kinds() {
    let run = check("clean");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run),
        vec!["result: clean (2 releases, 0 drift, 0 cycles, 0 dangling)"]
    );
}

#[test]
fn missing_dependency_and_missing_release_exit_1() {
    let run = check("drift-missing");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        lines(&run),
        vec![
            "drift: bp-b: missing dependsOn bp-a (expected, not declared)",
            "drift: bp-c: expected release not in the folder",
            "result: drift (2 releases, 2 drift, 0 cycles, 0 dangling)",
        ]
    );
}

#[test]
fn extra_dependency_and_unexpected_release_exit_1() {
    let run = check("drift-extra");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        lines(&run),
        vec![
            "drift: bp-b: extra dependsOn bp-cert-manager (declared, not expected)",
            "drift: bp-stray: release not in the expected file",
            "result: drift (3 releases, 2 drift, 0 cycles, 0 dangling)",
        ]
    );
}

#[test]
fn cycle_exits_2_even_with_drift_and_prints_the_path() {
    let run = check("cycle");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let out = lines(&run);
    assert!(
        out.contains(&"cycle: bp-a -> bp-b -> bp-c -> bp-a"),
        "{out:?}"
    );
    assert!(out.contains(&"cycle: bp-self -> bp-self"), "{out:?}");
    assert!(out.contains(&"drift: bp-self: release not in the expected file"));
}

#[test]
fn dangling_reference_exits_1_but_external_names_do_not() {
    let run = check("dangling");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let out = lines(&run);
    assert!(out.contains(
        &"dangling: bp-a dependsOn bp-ghost, which is neither in the folder nor in the expected file"
    ));
    assert!(!run.stdout.contains("dependsOn bp-cilium,"), "{out:?}");
}

#[test]
fn invalid_yaml_exits_3_naming_file_and_document() {
    let run = check("bad-yaml");
    assert_eq!(run.code, 3);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .contains("testdata/deps/bad-yaml/releases.yaml (document 2): invalid YAML"),
        "{}",
        run.stderr
    );
}

#[test]
fn document_without_name_exits_3_naming_file_and_document() {
    let run = check("no-identity");
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains(
            "testdata/deps/no-identity/releases.yaml (document 3): identity field `metadata.name`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn release_declared_twice_exits_3_naming_both() {
    let run = check("duplicate");
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .contains("two.yaml (document 1): HelmRelease bp-a is already declared at")
    );
    assert!(
        run.stderr.contains("one.yaml (document 1)"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreadable_expected_file_and_usage_errors_exit_3() {
    let run = run(&[
        "check",
        "testdata/deps/clean",
        "--expected",
        "testdata/deps/none.yaml",
    ]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("testdata/deps/none.yaml"),
        "{}",
        run.stderr
    );
    let run = self::run(&["graph", "testdata/deps/clean", "--format", "svg"]);
    assert_eq!(run.code, 3);
    // An expected file that is not in the seed's form.
    let run = self::run(&[
        "check",
        "testdata/deps/clean",
        "--expected",
        "testdata/deps/clean/bp-a.yaml",
    ]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains("not an expected-dependencies file"),
        "{}",
        run.stderr
    );
}

#[test]
fn multi_document_files_and_namespaces_are_read() {
    let run = check("multi-document");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run),
        vec!["result: clean (4 releases, 0 drift, 0 cycles, 0 dangling)"]
    );
}

#[test]
fn json_report_carries_outcome_and_findings() {
    let run = run(&[
        "check",
        "testdata/deps/drift-missing",
        "--expected",
        "testdata/deps/drift-missing/expected.yaml",
        "--json",
    ]);
    assert_eq!(run.code, 1);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(report["outcome"], "drift");
    assert_eq!(report["exitCode"], 1);
    assert_eq!(
        report["drift"][0],
        serde_json::json!({"kind": "missing-dependency", "release": "bp-b", "dependency": "bp-a"})
    );
}

#[test]
fn deploy_flux_passes_its_own_audit() {
    let run = run(&[
        "check",
        "deploy/flux",
        "--expected",
        "deploy/flux/expected-bootstrap-deps.yaml",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run),
        vec!["result: clean (2 releases, 0 drift, 0 cycles, 0 dangling)"]
    );
}

#[test]
fn snapshot_decodes_with_the_contract() {
    let run = run(&[
        "graph",
        "testdata/deps/multi-document",
        "--format",
        "snapshot",
        "--flow-id",
        "bootstrap",
        "--region",
        "fsn1",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let message = flow_contract::decode(run.stdout.trim_end().as_bytes(), "bootstrap")
        .expect("a valid FlowMessage");
    let FlowMessage::Snapshot {
        flow,
        nodes,
        relationships,
    } = message
    else {
        panic!("not a snapshot: {}", run.stdout);
    };
    assert_eq!(flow.id, "bootstrap");
    let mut ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![
            "fsn1",
            "fsn1/apps/bp-app",
            "fsn1/apps/bp-db",
            "fsn1/bp-cert-manager",
            "fsn1/bp-cilium"
        ]
    );
    // 4 dependsOn edges + 4 `contains` edges to the region.
    assert_eq!(relationships.len(), 8);
    assert!(
        relationships
            .iter()
            .any(|r| r.from_id == "fsn1/apps/bp-db" && r.to_id == "fsn1/apps/bp-app")
    );
}

#[test]
fn snapshot_rejects_a_bad_flow_id() {
    let run = run(&[
        "graph",
        "deploy/flux",
        "--format",
        "snapshot",
        "--flow-id",
        "a b",
    ]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("flow id"), "{}", run.stderr);
}

#[test]
fn dot_has_one_edge_per_depends_on() {
    let run = run(&["graph", "testdata/deps/multi-document", "--format", "dot"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let edges: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(
        edges,
        vec![
            "  \"bp-cilium\" -> \"bp-cert-manager\";",
            "  \"bp-cilium\" -> \"apps/bp-app\";",
            "  \"bp-cert-manager\" -> \"apps/bp-app\";",
            "  \"apps/bp-db\" -> \"apps/bp-app\";",
        ]
    );
    assert!(run.stdout.starts_with("digraph dependencies {"));
    assert!(run.stdout.trim_end().ends_with('}'));
}

#[test]
fn dot_marks_cycles() {
    let run = run(&["graph", "testdata/deps/cycle", "--format", "dot"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("  \"bp-a\" [color=red];"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.matches(" -> ").count(), 4);
}

#[test]
fn a_folder_of_both_kinds_is_clean_when_it_matches() {
    let run = check("kustomizations");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run),
        vec!["result: clean (3 releases, 3 kustomizations, 0 drift, 0 cycles, 0 dangling)"]
    );
}

#[test]
fn a_cycle_across_kinds_exits_2_with_drift_and_a_dangling_kustomization() {
    let run = check("cross-kind-cycle");
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines(&run),
        vec![
            "drift: bp-cert-manager: extra dependsOn bp-app (declared, not expected)",
            "drift: Kustomization/apps: extra dependsOn Kustomization/policies (declared, not expected)",
            "cycle: bp-app -> Kustomization/apps -> Kustomization/infra -> bp-cert-manager -> bp-app",
            "dangling: Kustomization/apps dependsOn Kustomization/policies, which is neither in the folder nor in the expected file",
            "result: cycle (3 releases, 3 kustomizations, 2 drift, 1 cycles, 1 dangling)",
        ]
    );
}

#[test]
fn snapshot_nests_objects_under_the_kustomization_whose_path_holds_them() {
    let run = run(&[
        "graph",
        "testdata/deps/kustomizations",
        "--format",
        "snapshot",
        "--region",
        "fsn1",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let FlowMessage::Snapshot {
        nodes,
        relationships,
        ..
    } = flow_contract::decode(run.stdout.trim_end().as_bytes(), "preview").expect("valid")
    else {
        panic!("not a snapshot: {}", run.stdout);
    };
    let kind = |id: &str| {
        nodes
            .iter()
            .find(|n| n.id == id)
            .and_then(|n| n.meta.as_ref()?.get("kind")?.as_str().map(str::to_owned))
    };
    assert_eq!(kind("fsn1/bp-cilium").as_deref(), Some("HelmRelease"));
    assert_eq!(
        kind("fsn1/ks/flux-system/infra").as_deref(),
        Some("Kustomization")
    );
    let mut contains: Vec<(&str, &str)> = relationships
        .iter()
        .filter(|r| r.rel_type == flow_contract::RelType::Contains)
        .map(|r| (r.from_id.as_str(), r.to_id.as_str()))
        .collect();
    contains.sort_unstable();
    assert_eq!(
        contains,
        vec![
            ("fsn1/bp-app", "fsn1/ks/flux-system/apps"),
            ("fsn1/bp-cert-manager", "fsn1/ks/flux-system/infra"),
            ("fsn1/bp-cilium", "fsn1/ks/flux-system/infra"),
            (
                "fsn1/ks/flux-system/apps",
                "fsn1/ks/flux-system/flux-system"
            ),
            ("fsn1/ks/flux-system/flux-system", "fsn1"),
            (
                "fsn1/ks/flux-system/infra",
                "fsn1/ks/flux-system/flux-system"
            ),
        ]
    );
}

#[test]
fn dot_draws_kustomizations_as_folders_with_what_they_apply() {
    let run = run(&["graph", "testdata/deps/kustomizations", "--format", "dot"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: Vec<&str> = run.stdout.lines().collect();
    assert!(
        out.contains(&"  \"Kustomization/infra\" [shape=folder];"),
        "{out:?}"
    );
    assert!(out.contains(&"  \"Kustomization/infra\" -> \"Kustomization/apps\";"));
    assert!(
        out.contains(&"  \"Kustomization/infra\" -> \"bp-cilium\" [style=dotted, arrowhead=none];")
    );
    // The root applies itself; that draws no line.
    assert!(
        !run.stdout
            .contains("\"Kustomization/flux-system\" -> \"Kustomization/flux-system\"")
    );
}
