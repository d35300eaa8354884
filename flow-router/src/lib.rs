//! The embeddable OpenovaFlow engine: per-flow ring of pre-encoded SSE frames, materialized fold, cursor subscriptions (built in issue 3).
