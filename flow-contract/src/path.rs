//! JSON paths (`$.nodes[2].flowId`) built on the stack while walking a message.

use std::fmt;

/// A path from the message root to a value; rendered only when an error needs it.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The message itself, `$`.
    Root,
    /// An object field.
    Key(&'a Path<'a>, &'a str),
    /// An array element.
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => f.write_str("$"),
            Self::Key(parent, key) => write!(f, "{parent}.{key}"),
            Self::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Path;

    #[test]
    fn renders_nested_paths() {
        let root = Path::Root;
        let nodes = Path::Key(&root, "nodes");
        let third = Path::Index(&nodes, 2);
        assert_eq!(Path::Key(&third, "flowId").to_string(), "$.nodes[2].flowId");
        assert_eq!(root.to_string(), "$");
    }
}
