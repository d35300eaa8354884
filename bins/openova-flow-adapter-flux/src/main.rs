//! `openova-flow-adapter-flux`: the kube-rs shell feeding the server (built in issue 6).
//! Until then it checks the contract's golden vectors, see README.

fn main() {}
