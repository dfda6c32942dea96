//! One client wrapper for every kind that holds a single SDK client: the struct, `new` and `from_client`.

/// Declares `pub struct $kind { client: $client }` with `new(ctx)` (the client the run's
/// `AwsContext` built, counted and throttled) and `from_client(client)` (tests and benches give
/// a mocked one). Doc comments written before the name go on the struct.
macro_rules! client_kind {
    ($(#[$meta:meta])* $kind:ident, $client:ty, $ctx:ident) => {
        $(#[$meta])*
        pub struct $kind {
            client: $client,
        }

        impl $kind {
            pub fn new(ctx: &$crate::aws::AwsContext) -> Self {
                Self::from_client(ctx.$ctx())
            }

            pub fn from_client(client: $client) -> Self {
                $kind { client }
            }
        }
    };
}

pub(crate) use client_kind;
