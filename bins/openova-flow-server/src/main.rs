//! `openova-flow-server`: the warp HTTP + SSE shell around `flow-router` (built in issue 4).
//! Until then it checks the contract's golden vectors, see README.

fn main() {}
