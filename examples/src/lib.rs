//! Examples for `durable`; see the `examples/*.rs` files.
