//! The few S3 calls the backend makes, with conditional headers, and S3 errors turned into
//! `StateError::Storage` messages that say what to fix.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use cairn_engine::state::StateError;

/// Conditions on a write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cond<'a> {
    /// Overwrite whatever is there (history objects: same serial, same content).
    Always,
    /// Create only: `If-None-Match: *`.
    Absent,
    /// Replace exactly this version: `If-Match: <etag>`.
    Matches(&'a str),
}

/// The answer to a (possibly conditional) read.
#[derive(Debug)]
pub(crate) enum Got {
    Found {
        etag: String,
        body: Vec<u8>,
    },
    /// `If-None-Match` named the current version: the caller's copy is current.
    NotModified,
    Missing,
}

#[derive(Debug)]
pub(crate) enum Put {
    /// Written; the new version's ETag when S3 returned one.
    Written(Option<String>),
    /// 412, or 409 ConditionalRequestConflict: someone else wrote (or is writing) the object.
    Lost,
    /// `If-Match` on an object that does not exist (any more).
    Missing,
}

#[derive(Debug)]
pub(crate) enum Delete {
    Deleted,
    /// 412: the object is no longer the version named.
    Lost,
    Missing,
    /// The endpoint refuses `If-Match` on DeleteObject (501 NotImplemented).
    Unsupported,
}

/// How an S3 call failed, as far as the backend cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    NotModified,
    Precondition,
    ConditionalConflict,
    NoSuchBucket,
    NotFound,
    AccessDenied,
    NotImplemented,
    /// No HTTP answer at all: DNS, connection, timeout, credentials.
    Unreachable,
    Other,
}

/// A failed call reduced to what the messages need.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: Kind,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    /// The SDK's full error chain.
    pub detail: String,
}

impl Failure {
    pub fn of<E>(err: &SdkError<E, HttpResponse>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_string);
        let message = err.message().map(str::to_string);
        let kind = match (status, code.as_deref()) {
            (Some(304), _) => Kind::NotModified,
            (Some(412), _) | (_, Some("PreconditionFailed")) => Kind::Precondition,
            (_, Some("ConditionalRequestConflict")) => Kind::ConditionalConflict,
            (_, Some("NoSuchBucket")) => Kind::NoSuchBucket,
            (Some(404), _) | (_, Some("NoSuchKey")) | (_, Some("NotFound")) => Kind::NotFound,
            (Some(403), _) | (_, Some("AccessDenied")) => Kind::AccessDenied,
            (Some(501), _) | (_, Some("NotImplemented")) => Kind::NotImplemented,
            (None, _) if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ConstructionFailure(_)) => Kind::Unreachable,
            _ => Kind::Other,
        };
        Failure { kind, status, code, message, detail: DisplayErrorContext(err).to_string() }
    }
}

/// The IAM action an S3 API call needs, for access-denied messages.
fn permission(action: &str) -> &'static str {
    match action {
        "GetObject" => "s3:GetObject",
        "PutObject" => "s3:PutObject",
        "DeleteObject" => "s3:DeleteObject",
        "ListObjectsV2" => "s3:ListBucket",
        _ => "s3:*",
    }
}

/// The message for a failed `action` on `s3://bucket/key`.
pub(crate) fn describe(failure: &Failure, action: &str, bucket: &str, key: &str, kms_key: Option<&str>) -> String {
    let url = format!("s3://{bucket}/{key}");
    let said = match (&failure.code, &failure.message) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.clone(),
        (None, Some(msg)) => msg.clone(),
        (None, None) => failure.status.map(|s| format!("HTTP {s}")).unwrap_or_else(|| failure.detail.clone()),
    };
    let kms_code = failure.code.as_deref().is_some_and(|c| c.starts_with("KMS") || c.contains("Kms"));
    match failure.kind {
        Kind::NoSuchBucket => format!(
            "S3 bucket {bucket:?} does not exist ({action} {url}): create the bucket or fix state.s3.bucket"
        ),
        Kind::AccessDenied => {
            let resource = if action == "ListObjectsV2" {
                format!("arn:aws:s3:::{bucket} (prefix {key})")
            } else {
                format!("arn:aws:s3:::{bucket}/{key}")
            };
            let mut text = format!(
                "access denied: {action} on {url} ({said}); grant {} on {resource} to the credentials cairn runs with, or fix state.s3.bucket / state.s3.key_prefix",
                permission(action)
            );
            if action == "GetObject" {
                text.push_str(
                    " (without s3:ListBucket on the bucket, S3 also answers AccessDenied for a key that does not exist yet)",
                );
            }
            if let Some(kms) = kms_key {
                text.push_str(&format!(
                    "; state is encrypted with SSE-KMS key {kms}, which also needs kms:GenerateDataKey and kms:Decrypt"
                ));
            }
            text
        }
        _ if kms_code => format!(
            "{action} {url} failed on its KMS key ({said}): check state.s3.kms_key{} exists in this region and that the credentials may use it (kms:GenerateDataKey, kms:Decrypt)",
            kms_key.map(|k| format!(" ({k})")).unwrap_or_default()
        ),
        Kind::Unreachable => format!(
            "cannot reach S3 for {action} {url}: {} (check the endpoint, region, credentials and network)",
            failure.detail
        ),
        _ => format!("S3 {action} {url} failed: {said}"),
    }
}

/// One bucket, with the encryption every write uses.
#[derive(Debug, Clone)]
pub(crate) struct Objects {
    pub client: Client,
    pub bucket: String,
    pub kms_key: Option<String>,
}

impl Objects {
    fn storage(&self, failure: &Failure, action: &str, key: &str) -> StateError {
        StateError::Storage(describe(failure, action, &self.bucket, key, self.kms_key.as_deref()))
    }

    /// Reads an object; with `if_none_match`, an unchanged object comes back as `NotModified`.
    pub async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Got, StateError> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).set_if_none_match(if_none_match.map(str::to_string)).send().await;
        let out = match out {
            Ok(out) => out,
            Err(err) => {
                let failure = Failure::of(&err);
                return match failure.kind {
                    Kind::NotModified => Ok(Got::NotModified),
                    Kind::NotFound => Ok(Got::Missing),
                    _ => Err(self.storage(&failure, "GetObject", key)),
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let body = out.body.collect().await.map_err(|e| StateError::Storage(format!("reading s3://{}/{key} was cut off: {e}", self.bucket)))?;
        Ok(Got::Found { etag, body: body.into_bytes().to_vec() })
    }

    pub async fn put(&self, key: &str, body: Vec<u8>, cond: Cond<'_>) -> Result<Put, StateError> {
        let mut req = self.client.put_object().bucket(&self.bucket).key(key).content_type("application/json").body(ByteStream::from(body));
        req = match cond {
            Cond::Always => req,
            Cond::Absent => req.if_none_match("*"),
            Cond::Matches(etag) => req.if_match(etag),
        };
        if let Some(kms) = &self.kms_key {
            req = req.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(kms);
        }
        match req.send().await {
            Ok(out) => Ok(Put::Written(out.e_tag().map(str::to_string))),
            Err(err) => {
                let failure = Failure::of(&err);
                match failure.kind {
                    Kind::Precondition | Kind::ConditionalConflict => Ok(Put::Lost),
                    Kind::NotFound if matches!(cond, Cond::Matches(_)) => Ok(Put::Missing),
                    _ => Err(self.storage(&failure, "PutObject", key)),
                }
            }
        }
    }

    pub async fn delete(&self, key: &str, if_match: Option<&str>) -> Result<Delete, StateError> {
        let out = self.client.delete_object().bucket(&self.bucket).key(key).set_if_match(if_match.map(str::to_string)).send().await;
        match out {
            Ok(_) => Ok(Delete::Deleted),
            Err(err) => {
                let failure = Failure::of(&err);
                match failure.kind {
                    Kind::Precondition | Kind::ConditionalConflict => Ok(Delete::Lost),
                    Kind::NotFound => Ok(Delete::Missing),
                    Kind::NotImplemented if if_match.is_some() => Ok(Delete::Unsupported),
                    _ => Err(self.storage(&failure, "DeleteObject", key)),
                }
            }
        }
    }

    /// Every key under `prefix`, following continuation tokens.
    pub async fn list(&self, prefix: &str, page_size: i32) -> Result<Vec<String>, StateError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(page_size)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|err| self.storage(&Failure::of(&err), "ListObjectsV2", prefix))?;
            keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_string)));
            match out.next_continuation_token() {
                Some(next) if out.is_truncated().unwrap_or(false) => token = Some(next.to_string()),
                _ => return Ok(keys),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: Kind, status: u16, code: &str, message: &str) -> Failure {
        Failure { kind, status: Some(status), code: Some(code.into()), message: Some(message.into()), detail: String::new() }
    }

    #[test]
    fn a_missing_bucket_says_how_to_fix_it() {
        let f = failure(Kind::NoSuchBucket, 404, "NoSuchBucket", "The specified bucket does not exist");
        let msg = describe(&f, "GetObject", "tf-state", "p/app/dev/state.json", None);
        assert!(msg.contains("\"tf-state\""), "{msg}");
        assert!(msg.contains("create the bucket or fix state.s3.bucket"), "{msg}");
    }

    #[test]
    fn access_denied_names_the_key_action_and_permission() {
        let f = failure(Kind::AccessDenied, 403, "AccessDenied", "Access Denied");
        let msg = describe(&f, "PutObject", "b", "p/app/dev/lock.json", Some("alias/state"));
        assert!(msg.contains("PutObject on s3://b/p/app/dev/lock.json"), "{msg}");
        assert!(msg.contains("grant s3:PutObject on arn:aws:s3:::b/p/app/dev/lock.json"), "{msg}");
        assert!(msg.contains("alias/state") && msg.contains("kms:GenerateDataKey"), "{msg}");

        let msg = describe(&f, "ListObjectsV2", "b", "p/app/dev/history/", None);
        assert!(msg.contains("s3:ListBucket on arn:aws:s3:::b (prefix p/app/dev/history/)"), "{msg}");
        let msg = describe(&f, "GetObject", "b", "k", None);
        assert!(msg.contains("does not exist yet"), "{msg}");
    }

    #[test]
    fn kms_failures_point_at_the_key() {
        let f = failure(Kind::Other, 400, "KMS.NotFoundException", "Invalid keyId alias/nope");
        let msg = describe(&f, "PutObject", "b", "k", Some("alias/nope"));
        assert!(msg.contains("state.s3.kms_key (alias/nope)") && msg.contains("KMS.NotFoundException"), "{msg}");
    }
}
