//! The statuses `flowctl` knows how to colour; every other status is shown neutral.

/// How a node status is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum StatusClass {
    /// `pending`
    Pending,
    /// `running`
    Running,
    /// `succeeded`
    Succeeded,
    /// `failed`
    Failed,
    /// Any other status (the vocabulary is open).
    Other,
}

impl StatusClass {
    /// The class of a status string.
    pub(crate) fn of(status: &str) -> Self {
        match status {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Other,
        }
    }

    /// The SGR parameters of its terminal colour.
    pub(crate) const fn ansi(self) -> &'static str {
        match self {
            Self::Pending => "90",
            Self::Running => "36",
            Self::Succeeded => "32",
            Self::Failed => "1;31",
            Self::Other => "35",
        }
    }

    /// Its fill colour in DOT output (the same palette as the web page).
    pub(crate) const fn fill(self) -> &'static str {
        match self {
            Self::Pending => "#d9dee7",
            Self::Running => "#9cc7f2",
            Self::Succeeded => "#a6dba0",
            Self::Failed => "#f4a6a6",
            Self::Other => "#e8e4d8",
        }
    }
}

/// Status counts in display order: the four known statuses, then the others by name.
pub(crate) fn counts<'a>(statuses: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for status in statuses {
        match counts.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    counts.sort_by(|a, b| (StatusClass::of(a.0), a.0).cmp(&(StatusClass::of(b.0), b.0)));
    counts
}

/// Counts as `2 pending, 1 failed`.
pub(crate) fn counts_text(counts: &[(&str, usize)]) -> String {
    counts
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_put_known_statuses_first() {
        let counts = counts(["zeta", "failed", "pending", "failed", "alpha"]);
        assert_eq!(counts_text(&counts), "1 pending, 2 failed, 1 alpha, 1 zeta");
    }
}
