//! `flow-client` against the real server over sockets: the server's own `serve` on
//! 127.0.0.1, in this process, so a restart is a real one (the listener closes, a new app
//! with a new epoch binds the same port).

mod follow;
mod harness;
mod requests;
