//! The resource kit: what every kind would otherwise write again, so a kind holds only the calls truly its own.
//!
//! | module | what it gives a kind |
//! |---|---|
//! | `client` | `client_kind!`: a kind's struct holding its SDK client, with `new(ctx)` and `from_client(client)` |
//! | `errors` | one SDK-error mapping (`.op_in(&CODES, "Operation")`) on top of `crate::error::classify`, one `invalid` |
//! | `service_codes` | the per-service error codes the shared table does not know, declared as data |
//! | `tagging` | one tag sync for the services that tag by ARN or id: the kind passes its set/remove calls |
//! | `iam_actions` | a kind's IAM actions per operation as one declared value |
//! | `defaults` | a prop's value, else its schema default: the kind never repeats a default the schema declares |
//! | `arns` | the ARN forms cairn builds itself (partition, region, account, resource) |
//! | `mock_cases` | (tests) the mock-test shapes the kinds share: error answers per protocol, adopt-ours / refuse-theirs |

pub mod arns;
pub mod client;
pub mod defaults;
pub mod errors;
pub mod iam_actions;
#[cfg(test)]
pub(crate) mod mock_cases;
pub mod service_codes;
pub mod tagging;
