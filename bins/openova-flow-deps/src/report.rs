//! An [`Audit`] as human-readable lines or one JSON object.

use std::fmt::Write as _;

use flow_flux_mapper::{Audit, Drift, Kind, ObjectRef, Outcome};

/// How many objects of each kind the folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// HelmReleases.
    pub(crate) releases: usize,
    /// Kustomizations.
    pub(crate) kustomizations: usize,
}
use serde_json::{Value, json};

use crate::notation::Notation;

/// The process exit code of an outcome: 0 clean, 1 drift (dangling references included),
/// 2 cycle (a cycle outranks drift). Bad input is [`BAD_INPUT`].
pub(crate) const fn exit_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Clean => 0,
        Outcome::Drift => 1,
        Outcome::Cycle => 2,
    }
}

/// The exit code of bad input (and of usage errors, so that 2 always means a cycle).
pub(crate) const BAD_INPUT: u8 = 3;

/// One finding per line, then a `result:` line.
pub(crate) fn lines(audit: &Audit, counts: Counts, notation: &Notation) -> String {
    let k = |object| notation.object(object);
    let mut out = String::new();
    for drift in &audit.drift {
        let line = match drift {
            Drift::MissingDependency {
                release,
                dependency,
            } => format!(
                "{}: missing dependsOn {} (expected, not declared)",
                k(release),
                k(dependency)
            ),
            Drift::ExtraDependency {
                release,
                dependency,
            } => format!(
                "{}: extra dependsOn {} (declared, not expected)",
                k(release),
                k(dependency)
            ),
            Drift::MissingRelease { release } => {
                format!(
                    "{}: expected {} not in the folder",
                    k(release),
                    noun(release)
                )
            }
            Drift::UnexpectedRelease { release } => {
                format!("{}: {} not in the expected file", k(release), noun(release))
            }
            other => format!("{other:?}"),
        };
        let _ = writeln!(out, "drift: {line}");
    }
    for cycle in &audit.cycles {
        let path: Vec<String> = cycle.iter().map(k).collect();
        let _ = writeln!(out, "cycle: {}", path.join(" -> "));
    }
    for dangling in &audit.dangling {
        let _ = writeln!(
            out,
            "dangling: {} dependsOn {}, which is neither in the folder nor in the expected file",
            k(&dangling.release),
            k(&dangling.dependency)
        );
    }
    let kustomizations = match counts.kustomizations {
        0 => String::new(),
        n => format!(", {n} kustomizations"),
    };
    let _ = writeln!(
        out,
        "result: {} ({} releases{kustomizations}, {} drift, {} cycles, {} dangling)",
        outcome_name(audit.outcome()),
        counts.releases,
        audit.drift.len(),
        audit.cycles.len(),
        audit.dangling.len()
    );
    out
}

/// The audit as one JSON object; releases in the report's notation.
pub(crate) fn json(audit: &Audit, counts: Counts, notation: &Notation) -> Value {
    let k = |object| Value::String(notation.object(object));
    let drift: Vec<Value> = audit
        .drift
        .iter()
        .map(|drift| match drift {
            Drift::MissingDependency {
                release,
                dependency,
            } => json!({"kind": "missing-dependency", "release": k(release), "dependency": k(dependency)}),
            Drift::ExtraDependency {
                release,
                dependency,
            } => json!({"kind": "extra-dependency", "release": k(release), "dependency": k(dependency)}),
            Drift::MissingRelease { release } => {
                json!({"kind": "missing-release", "release": k(release)})
            }
            Drift::UnexpectedRelease { release } => {
                json!({"kind": "unexpected-release", "release": k(release)})
            }
            other => json!({"kind": format!("{other:?}")}),
        })
        .collect();
    let cycles: Vec<Value> = audit
        .cycles
        .iter()
        .map(|cycle| Value::Array(cycle.iter().map(k).collect()))
        .collect();
    let dangling: Vec<Value> = audit
        .dangling
        .iter()
        .map(|d| json!({"release": k(&d.release), "dependency": k(&d.dependency)}))
        .collect();
    json!({
        "outcome": outcome_name(audit.outcome()),
        "exitCode": exit_code(audit.outcome()),
        "releases": counts.releases,
        "kustomizations": counts.kustomizations,
        "drift": drift,
        "cycles": cycles,
        "dangling": dangling,
    })
}

/// How a finding names an object's kind.
const fn noun(object: &ObjectRef) -> &'static str {
    match object.kind {
        Kind::Kustomization => "Kustomization",
        Kind::HelmRelease | Kind::HelmChart => "release",
    }
}

const fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Clean => "clean",
        Outcome::Drift => "drift",
        Outcome::Cycle => "cycle",
    }
}

#[cfg(test)]
mod tests {
    use flow_flux_mapper::{Audit, Dangling, Drift, Kind, ObjectKey, ObjectRef};

    use super::{Counts, json, lines};
    use crate::notation::Notation;

    fn key(ns: &str, name: &str) -> ObjectRef {
        ObjectRef {
            kind: Kind::HelmRelease,
            key: ObjectKey {
                namespace: ns.into(),
                name: name.into(),
            },
        }
    }

    const COUNTS: Counts = Counts {
        releases: 2,
        kustomizations: 0,
    };

    fn audit() -> Audit {
        Audit {
            drift: vec![Drift::MissingDependency {
                release: key("flux-system", "a"),
                dependency: key("apps", "b"),
            }],
            cycles: vec![vec![
                key("flux-system", "a"),
                key("flux-system", "c"),
                key("flux-system", "a"),
            ]],
            dangling: vec![Dangling {
                release: key("flux-system", "c"),
                dependency: key("flux-system", "z"),
            }],
        }
    }

    #[test]
    fn lines_name_each_finding_and_end_with_the_result() {
        let text = lines(&audit(), COUNTS, &Notation::new("flux-system"));
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            vec![
                "drift: a: missing dependsOn apps/b (expected, not declared)",
                "cycle: a -> c -> a",
                "dangling: c dependsOn z, which is neither in the folder nor in the expected file",
                "result: cycle (2 releases, 1 drift, 1 cycles, 1 dangling)",
            ]
        );
    }

    #[test]
    fn json_uses_the_same_notation_and_exit_code() {
        let value = json(&audit(), COUNTS, &Notation::new("flux-system"));
        assert_eq!(value["exitCode"], 2);
        assert_eq!(value["drift"][0]["dependency"], "apps/b");
        assert_eq!(value["cycles"][0], serde_json::json!(["a", "c", "a"]));
        assert_eq!(value["dangling"][0]["dependency"], "z");
    }
}
