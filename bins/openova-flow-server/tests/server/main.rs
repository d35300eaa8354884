//! Integration tests of `openova-flow-server`: every route through `routes()` without a port,
//! streaming over real sockets, and the real binary's configuration errors and shutdown.

mod backpressure;
mod event_stream;
mod fast_path;
mod fixture;
mod hostile;
mod process;
mod replicas;
mod routes;
mod sockets;
