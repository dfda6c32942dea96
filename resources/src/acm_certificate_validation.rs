//! `aws.acm.certificate_validation`: waits until ACM has seen a certificate's DNS validation records and issued it.
//!
//! Nothing is created in AWS: the resource stands for "the certificate is ISSUED", so that
//! whatever needs an issued certificate (a load balancer listener) depends on it rather than
//! on the certificate, which exists long before it can be used. Its id is the certificate's
//! ARN; delete does nothing.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_acm::types::{CertificateDetail, ValidationMethod};
use aws_sdk_acm::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, TextRule};
use serde_json::{json, Value};

use crate::acm_certificate::{describe, records_known, status_of, MAX_SAN};
use crate::adopt::wanted;
use crate::aws::AwsContext;

pub const KIND: &str = "aws.acm.certificate_validation";

/// Terraform's default create timeout for the same wait: DNS validation usually takes
/// minutes, but a record in a zone that is only delegated later can take longer.
pub const DEFAULT_WAIT_MINUTES: i64 = 75;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "Waits at create until an aws.acm.certificate is ISSUED (ACM has seen its DNS validation records); FAILED or VALIDATION_TIMED_OUT fail the apply. \
          Creates nothing in AWS, and delete does nothing.",
    props: &[
        PropSpec::new("certificate_arn", PropType::Text(TextRule::len(20, 2048)), "ARN of the certificate to wait for, e.g. `${cert.arn}`.")
            .required()
            .force_new(),
        PropSpec::new(
            "validation_record_fqdns",
            PropType::List(&PropType::Text(TextRule::len(1, MAX_SAN + 1))),
            "The names of the validation records created for the certificate (e.g. `${record.fqdn}`); when given, create first checks that every record ACM asks for is among them.",
        )
        .local(),
        PropSpec::new("wait_timeout_minutes", PropType::IntRange(1, 1_440), "How long create waits for the certificate to be ISSUED.").local().default("75"),
    ],
    attrs: &["status"],
    taggable: false,
    rules: &[],
};

/// A record name as DNS compares it: without case or the root's trailing dot.
fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// What create checks and waits for, after the schema's checks.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    arn: String,
    fqdns: Option<Vec<String>>,
    wait: Duration,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let arn = desired.str("certificate_arn").ok_or_else(|| ProviderError::Invalid(format!("{KIND}: certificate_arn is required")))?.to_string();
        let fqdns = desired.props.get("validation_record_fqdns").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(normal).collect());
        let minutes = wanted(&SCHEMA, desired, "wait_timeout_minutes").and_then(|v| v.as_i64()).unwrap_or(DEFAULT_WAIT_MINUTES);
        Ok(Spec { arn, fqdns, wait: Duration::from_secs(minutes.max(1) as u64 * 60) })
    }
}

/// The records ACM asks for that `fqdns` lacks, as `domain: record` pairs.
fn missing_records(cert: &CertificateDetail, fqdns: &[String]) -> Vec<String> {
    cert.domain_validation_options()
        .iter()
        .filter(|d| d.validation_method().is_none_or(|m| *m == ValidationMethod::Dns))
        .filter_map(|d| d.resource_record().map(|r| (d.domain_name(), r.name())))
        .filter(|(_, record)| !fqdns.contains(&normal(record)))
        .map(|(domain, record)| format!("{domain}: {record}"))
        .collect()
}

/// Why a certificate will never be issued, for the states ACM does not leave by itself.
fn refusal(arn: &str, cert: &CertificateDetail, status: &str) -> Option<ProviderError> {
    let why = match status {
        "FAILED" => {
            let reason = cert.failure_reason().map(|r| r.as_str().to_string()).unwrap_or_else(|| "no reason given".into());
            format!("ACM refused to issue it ({reason}); fix the cause (CAA records, a domain ACM may not issue for, a quota) and replace the certificate")
        }
        "VALIDATION_TIMED_OUT" => {
            "ACM did not see its validation records within 72 hours and stopped trying; create the records in the zone that answers for the names and replace the certificate".to_string()
        }
        "EXPIRED" | "REVOKED" | "INACTIVE" => format!("it is {status} and cannot be issued again; replace the certificate"),
        _ => return None,
    };
    Some(ProviderError::Fatal(format!("{KIND}: certificate {arn} is {status}: {why}")))
}

fn observed(arn: &str, status: &str) -> Observed {
    let mut props = Props::new();
    props.insert("certificate_arn".into(), json!(arn));
    let mut attrs = Props::new();
    attrs.insert("status".into(), json!(status));
    Observed { id: arn.to_string(), props, attrs, tags: Default::default() }
}

pub struct AcmCertificateValidation {
    client: Client,
}

impl AcmCertificateValidation {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.acm())
    }

    pub fn from_client(client: Client) -> Self {
        AcmCertificateValidation { client }
    }

    /// Polls DescribeCertificate until the certificate is ISSUED, a state it cannot leave,
    /// or `spec.wait` has passed. The record check runs once ACM has published the records.
    async fn wait_issued(&self, spec: &Spec) -> Result<Observed, ProviderError> {
        let start = tokio::time::Instant::now();
        let mut delay = Duration::from_secs(2);
        let mut checked = spec.fqdns.is_none();
        loop {
            let cert = describe(&self.client, &spec.arn)
                .await?
                .ok_or_else(|| ProviderError::Invalid(format!("{KIND}: certificate {} does not exist (deleted, or in another region or account)", spec.arn)))?;
            if !checked && records_known(&cert) {
                let missing = missing_records(&cert, spec.fqdns.as_deref().unwrap_or_default());
                if !missing.is_empty() {
                    return Err(ProviderError::Invalid(format!(
                        "{KIND}: validation_record_fqdns lacks the DNS validation records ACM asks for: {}; create them and list their names",
                        missing.join(", ")
                    )));
                }
                checked = true;
            }
            let status = status_of(&cert);
            if status == "ISSUED" {
                return Ok(observed(&spec.arn, &status));
            }
            if let Some(err) = refusal(&spec.arn, &cert, &status) {
                return Err(err);
            }
            let elapsed = start.elapsed();
            if elapsed >= spec.wait {
                return Err(ProviderError::Retryable(format!(
                    "{KIND}: certificate {} is still {status} after {} minutes; check that its validation records exist in the zone that answers for its names, then raise wait_timeout_minutes or re-run apply to continue waiting",
                    spec.arn,
                    spec.wait.as_secs() / 60
                )));
            }
            tokio::time::sleep(delay.min(spec.wait - elapsed)).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
}

#[async_trait]
impl ResourceKind for AcmCertificateValidation {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    /// The certificate's status. One that is no longer ISSUED (expired, revoked) reads as
    /// gone, so the next plan creates the validation again, which waits or says why it cannot.
    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(cert) = describe(&self.client, id).await? else { return Ok(None) };
        let status = status_of(&cert);
        Ok((status == "ISSUED").then(|| observed(id, &status)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        self.wait_issued(&Spec::from(desired)?).await
    }

    /// Only cairn's own settings can change (they are never sent): nothing to do in AWS.
    async fn update(&self, id: &str, _desired: &Desired, _changed: &[String]) -> Result<Observed, ProviderError> {
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND}: certificate {id} is gone or no longer ISSUED")))
    }

    /// Nothing was created: the certificate is deleted by its own resource.
    async fn delete(&self, _id: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    /// A create interrupted after the certificate was issued is done already.
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        self.read(&spec.arn).await
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read | Operation::Create | Operation::Update => &["acm:DescribeCertificate"],
            Operation::Delete => &[],
        }
    }
}

#[cfg(test)]
#[path = "acm_certificate_validation_tests.rs"]
mod tests;
