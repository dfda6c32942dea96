//! `aws.acm.certificate`: a public ACM certificate validated through DNS, with the validation records it needs.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_acm::error::ProvideErrorMetadata;
use aws_sdk_acm::types::{CertificateDetail, CertificateExport, CertificateOptions, DomainValidation, Filters, KeyAlgorithm, Tag, ValidationMethod};
use aws_sdk_acm::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::{json, Value};

use crate::adopt::wanted;
use crate::aws::AwsContext;
use crate::error::{classify, found, gone, SdkResultExt};

pub const KIND: &str = "aws.acm.certificate";

/// The key algorithms RequestCertificate accepts for an Amazon-issued certificate.
pub const KEY_ALGORITHMS: &[&str] = &["RSA_2048", "EC_prime256v1", "EC_secp384r1"];

/// SubjectAlternativeNames holds at most 100 names (API reference); accounts start with a
/// quota of 10 names per certificate, raised in Service Quotas, which an apply reports.
pub const MAX_SANS: usize = 100;

/// RFC 5280 limits the certificate's first name (its Common Name) to 64 octets; SANs to 253.
pub const MAX_FIRST_NAME: usize = 64;
pub const MAX_SAN: usize = 253;

/// How long create waits for ACM to publish the DNS records that validate the certificate
/// (RequestCertificate answers before it has chosen them; it takes seconds in practice).
const RECORDS_WAIT: Duration = Duration::from_secs(300);

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "A public ACM certificate validated through DNS. Its `domain_validation_options` are the CNAME records to create (aws.route53.record); \
          aws.acm.certificate_validation waits until ACM has seen them and issued the certificate.",
    props: &[
        PropSpec::new(
            "domain_name",
            PropType::Text(TextRule::len(1, MAX_FIRST_NAME)),
            "The certificate's first name (its Common Name), at most 64 characters, e.g. `example.com` or `*.example.com`.",
        )
        .required()
        .force_new()
        .rule(first_name_rule),
        PropSpec::new(
            "subject_alternative_names",
            PropType::List(&PropType::Text(TextRule::len(1, MAX_SAN))),
            "Further names the certificate covers, each up to 253 characters; at most 100 (the account's quota starts at 10 names per certificate, domain_name included).",
        )
        .force_new()
        .rule(sans_rule),
        PropSpec::new(
            "validation_method",
            PropType::Enum(&["DNS", "EMAIL"]),
            "How ACM checks that you control the names: DNS (records in the zone). EMAIL is refused: it waits on a person approving mails.",
        )
        .force_new()
        .default("\"DNS\"")
        .rule(validation_method_rule),
        PropSpec::new("key_algorithm", PropType::Enum(KEY_ALGORITHMS), "Algorithm of the certificate's key pair.").force_new().default("\"RSA_2048\""),
        PropSpec::new(
            "options",
            PropType::Struct(&[
                PropSpec::new(
                    "certificate_transparency_logging_preference",
                    PropType::Enum(&["ENABLED", "DISABLED"]),
                    "Kept for Terraform's shape: every public certificate is now published to certificate transparency logs, so only ENABLED is accepted.",
                )
                .required()
                .rule(transparency_rule),
                PropSpec::new("export", PropType::Enum(&["ENABLED", "DISABLED"]), "Whether the certificate and its private key can be exported (exportable public certificates are charged).")
                    .required(),
            ]),
            "Certificate options, both written when any is (the plan compares the whole object); they cannot change once the certificate exists.",
        )
        .force_new()
        .default("{\"certificate_transparency_logging_preference\": \"ENABLED\", \"export\": \"DISABLED\"}"),
    ],
    attrs: &["arn", "status", "domain_validation_options"],
    taggable: true,
    rules: &[PropsRule { props: &["domain_name", "subject_alternative_names"], check: first_name_not_repeated }],
};

/// ACM lists the first name among the SANs by itself; written there too, it would read back
/// as a difference that replaces the certificate.
fn first_name_not_repeated(props: &Props) -> Vec<String> {
    let (Some(first), Some(sans)) = (props.get("domain_name").and_then(Value::as_str), props.get("subject_alternative_names").and_then(Value::as_array)) else {
        return vec![];
    };
    if sans.iter().filter_map(Value::as_str).any(|s| s.eq_ignore_ascii_case(first)) {
        vec![format!("subject_alternative_names repeats domain_name `{first}`; leave it out: the certificate covers its first name anyway")]
    } else {
        vec![]
    }
}

/// Why `name` is not a name ACM accepts, if it is not: at most `max` characters, labels of
/// 1 to 63 letters, digits and hyphens (not first or last), at least two labels besides a
/// wildcard, which may only be the whole leftmost label (`*.example.com`).
pub fn domain_violation(name: &str, max: usize) -> Option<String> {
    let n = name.chars().count();
    if n > max {
        return Some(format!("`{name}` is {n} characters long; at most {max} are allowed here"));
    }
    if name.ends_with('.') {
        return Some(format!("`{name}` must not end with a dot"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    let wildcard = labels.first() == Some(&"*");
    if labels.len() - usize::from(wildcard) < 2 {
        return Some(format!("`{name}` needs at least two labels besides a wildcard, e.g. `example.com`"));
    }
    for (i, label) in labels.iter().enumerate() {
        if label.contains('*') && !(i == 0 && *label == "*") {
            return Some(format!("`{name}`: a wildcard may only be the whole leftmost label, as in `*.example.com`"));
        }
        if *label == "*" {
            continue;
        }
        if label.is_empty() {
            return Some(format!("`{name}` has an empty label"));
        }
        if label.len() > 63 {
            return Some(format!("`{name}`: label `{label}` is {} characters long; at most 63", label.len()));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Some(format!("`{name}` may not contain {c:?}: letters, digits and hyphens only (internationalised names in punycode, `xn--...`)"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("`{name}`: label `{label}` may not start or end with a hyphen"));
        }
    }
    if labels.last().is_some_and(|l| l.len() < 2) {
        return Some(format!("`{name}`: the last label must be at least 2 characters long"));
    }
    None
}

fn first_name_rule(v: &Value) -> Vec<String> {
    v.as_str().and_then(|s| domain_violation(s, MAX_FIRST_NAME)).into_iter().collect()
}

fn sans_rule(v: &Value) -> Vec<String> {
    let Some(names) = v.as_array() else { return vec![] };
    let mut out: Vec<String> = names.iter().filter_map(Value::as_str).filter_map(|s| domain_violation(s, MAX_SAN)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for dup in names.iter().filter_map(Value::as_str).filter(|s| !seen.insert(s.to_ascii_lowercase())) {
        out.push(format!("lists `{dup}` twice"));
    }
    if names.len() > MAX_SANS {
        out.push(format!("holds {} names; a certificate has at most {MAX_SANS}", names.len()));
    }
    out
}

fn transparency_rule(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some("DISABLED") => {
            vec!["AWS no longer lets a public certificate opt out of certificate transparency logging; remove the setting or write ENABLED".into()]
        }
        _ => vec![],
    }
}

fn validation_method_rule(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some("EMAIL") => vec!["EMAIL validation waits on a person approving a mail per name, which an apply cannot do; use DNS and create the records of domain_validation_options (aws.route53.record)".into()],
        _ => vec![],
    }
}

/// What RequestCertificate sends, after the schema's checks (values known only at apply
/// were not checked at validate).
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    domain_name: String,
    sans: Vec<String>,
    key_algorithm: String,
    export: String,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let text = |p: &str| wanted(&SCHEMA, desired, p).and_then(|v| v.as_str().map(str::to_string));
        let domain_name = text("domain_name").ok_or_else(|| ProviderError::Invalid(format!("{KIND}: domain_name is required")))?;
        let sans = wanted(&SCHEMA, desired, "subject_alternative_names")
            .and_then(|v| v.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()))
            .unwrap_or_default();
        Ok(Spec {
            domain_name,
            sans,
            key_algorithm: text("key_algorithm").unwrap_or_else(|| "RSA_2048".into()),
            export: export(wanted(&SCHEMA, desired, "options").as_ref()),
        })
    }

    /// The props as the stack writes them. SANs are kept in the stack's order without the
    /// first name, which ACM lists among them.
    fn props(&self) -> Props {
        let mut props = Props::new();
        props.insert("domain_name".into(), json!(self.domain_name));
        if !self.sans.is_empty() {
            props.insert("subject_alternative_names".into(), json!(self.sans));
        }
        props.insert("validation_method".into(), json!("DNS"));
        props.insert("key_algorithm".into(), json!(self.key_algorithm));
        // Transparency logging cannot be turned off any more: every certificate has it.
        props.insert("options".into(), json!({"certificate_transparency_logging_preference": "ENABLED", "export": self.export}));
        props
    }

    /// Every name the certificate covers, the first one first, without repeats.
    fn names(&self) -> Vec<String> {
        let mut out = vec![self.domain_name.clone()];
        for s in &self.sans {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }
}

fn export(options: Option<&Value>) -> String {
    options.and_then(|o| o.get("export")).and_then(Value::as_str).unwrap_or("DISABLED").to_string()
}

/// How many request tokens a create tries: each retired one names a certificate of this
/// address deleted within the hour ACM remembers a token (a replacement, an out-of-band delete).
pub const TOKEN_GENERATIONS: u32 = 16;

/// Describes of a just-requested ARN that may answer "not found" before it counts as deleted.
const DEAD_AFTER: u32 = 3;

/// RequestCertificate's IdempotencyToken: at most 32 word characters. The engine's token is
/// derived from stack, env, address, props and tags, so a retried request within the hour
/// ACM remembers it gets the same certificate, and a replacement a new one. ACM answers a
/// token whose certificate was deleted since with that dead ARN, so a create that meets one
/// moves on to the next `generation`.
pub fn request_token(desired: &Desired, generation: u32) -> String {
    let full = crate::adopt::token(&[&desired.idempotency_token, &generation.to_string()], 64);
    let word: String = full.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    word.chars().skip(word.chars().count().saturating_sub(32)).collect()
}

/// The validation records in the order of the certificate's names (domain_name first), so
/// that `domain_validation_options[0]` is always the first name's record.
fn validation_options(cert: &CertificateDetail, order: &[String]) -> Vec<Value> {
    let mut options: Vec<&DomainValidation> = cert.domain_validation_options().iter().collect();
    let rank = |d: &DomainValidation| order.iter().position(|n| n == d.domain_name()).unwrap_or(order.len());
    options.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.domain_name().cmp(b.domain_name())));
    options
        .into_iter()
        .map(|d| {
            let record = d.resource_record();
            json!({
                "domain_name": d.domain_name(),
                "resource_record_name": record.map(|r| r.name()),
                "resource_record_type": record.map(|r| r.r#type().as_str()),
                "resource_record_value": record.map(|r| r.value()),
            })
        })
        .collect()
}

/// Whether every name has its DNS record (ACM fills them in shortly after the request).
pub fn records_known(cert: &CertificateDetail) -> bool {
    let options = cert.domain_validation_options();
    !options.is_empty() && options.iter().all(|d| d.resource_record().is_some())
}

pub fn status_of(cert: &CertificateDetail) -> String {
    cert.status().map(|s| s.as_str().to_string()).unwrap_or_else(|| "PENDING_VALIDATION".into())
}

/// A described certificate in the stack's prop shapes.
fn from_aws(cert: &CertificateDetail, tags: Tags) -> Observed {
    let domain_name = cert.domain_name().unwrap_or_default().to_string();
    let sans: Vec<String> = cert.subject_alternative_names().iter().filter(|s| **s != domain_name).cloned().collect();
    let spec = Spec {
        domain_name,
        sans,
        key_algorithm: cert.key_algorithm().map(|k| k.as_str().to_string()).unwrap_or_else(|| "RSA_2048".into()),
        export: cert.options().and_then(|o| o.export()).map(|e| e.as_str().to_string()).unwrap_or_else(|| "DISABLED".into()),
    };
    let arn = cert.certificate_arn().unwrap_or_default().to_string();
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("status".into(), json!(status_of(cert)));
    attrs.insert("domain_validation_options".into(), Value::Array(validation_options(cert, &spec.names())));
    Observed { id: arn, props: spec.props(), attrs, tags }
}

fn tag_list(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("{KIND}: tag {k}: {e}")))).collect()
}

/// Describes certificates; shared with `aws.acm.certificate_validation`.
pub async fn describe(client: &Client, arn: &str) -> Result<Option<CertificateDetail>, ProviderError> {
    let out = found(client.describe_certificate().certificate_arn(arn).send().await.op("DescribeCertificate"))?;
    Ok(out.and_then(|o| o.certificate().cloned()))
}

pub struct AcmCertificate {
    client: Client,
}

impl AcmCertificate {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.acm())
    }

    pub fn from_client(client: Client) -> Self {
        AcmCertificate { client }
    }

    async fn tags(&self, arn: &str) -> Result<Option<Tags>, ProviderError> {
        let out = found(self.client.list_tags_for_certificate().certificate_arn(arn).send().await.op("ListTagsForCertificate"))?;
        Ok(out.map(|o| o.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect()))
    }

    /// Describes `arn` until every validation record is known, at most `RECORDS_WAIT`;
    /// `None` when it stays not found (a deleted certificate a remembered token named).
    async fn settled(&self, arn: &str) -> Result<Option<CertificateDetail>, ProviderError> {
        let start = tokio::time::Instant::now();
        let mut delay = Duration::from_secs(1);
        let mut missing = 0;
        loop {
            match describe(&self.client, arn).await? {
                Some(c) if records_known(&c) => return Ok(Some(c)),
                // Not DNS-validated (imported, or EMAIL made elsewhere): there are no records to wait for.
                Some(c) if c.domain_validation_options().iter().any(|d| d.validation_method().is_some_and(|m| *m != ValidationMethod::Dns)) => {
                    return Ok(Some(c))
                }
                Some(_) => missing = 0,
                // A new certificate may take a moment to describe; one that never does is gone.
                None => {
                    missing += 1;
                    if missing >= DEAD_AFTER {
                        return Ok(None);
                    }
                }
            }
            if start.elapsed() >= RECORDS_WAIT {
                return Err(ProviderError::Retryable(format!(
                    "{KIND} {arn}: ACM has not published its DNS validation records after {} seconds; re-run apply to continue waiting",
                    RECORDS_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    /// One RequestCertificate with the token of `generation`; the ARN ACM answers.
    async fn request(&self, spec: &Spec, desired: &Desired, generation: u32) -> Result<String, ProviderError> {
        let sans = (!spec.sans.is_empty()).then(|| spec.names());
        let options = CertificateOptions::builder().export(CertificateExport::from(spec.export.as_str())).build();
        let out = self
            .client
            .request_certificate()
            .domain_name(&spec.domain_name)
            .validation_method(ValidationMethod::Dns)
            .set_subject_alternative_names(sans)
            .key_algorithm(KeyAlgorithm::from(spec.key_algorithm.as_str()))
            .options(options)
            .idempotency_token(request_token(desired, generation))
            .set_tags((!desired.tags.is_empty()).then(|| tag_list(&desired.tags)).transpose()?)
            .send()
            .await
            .map_err(|e| quota_or(classify("RequestCertificate", e)))?;
        out.certificate_arn().map(str::to_string).ok_or_else(|| ProviderError::Fatal(format!("{KIND}: RequestCertificate answered without an ARN")))
    }

    async fn set_tags(&self, arn: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
        let set = |set: Tags| async move {
            self.client.add_tags_to_certificate().certificate_arn(arn).set_tags(Some(tag_list(&set)?)).send().await.map(|_| ()).op("AddTagsToCertificate")
        };
        let remove = |remove: Vec<String>| async move {
            // RemoveTagsFromCertificate matches a tag by key and value when a value is given: keys alone remove whatever value.
            let keys: Result<Vec<Tag>, _> = remove.iter().map(|k| Tag::builder().key(k).build()).collect();
            let keys = keys.map_err(|e| ProviderError::Invalid(format!("{KIND}: {e}")))?;
            self.client.remove_tags_from_certificate().certificate_arn(arn).set_tags(Some(keys)).send().await.map(|_| ()).op("RemoveTagsFromCertificate")
        };
        crate::kit::tagging::sync(current, desired, set, remove).await
    }

    /// Deletes, saying what still uses the certificate when ACM refuses because of it.
    async fn delete_certificate(&self, arn: &str) -> Result<(), ProviderError> {
        match self.client.delete_certificate().certificate_arn(arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceInUseException") => {
                let users = describe(&self.client, arn).await.ok().flatten().map(|c| c.in_use_by().to_vec()).unwrap_or_default();
                let users = if users.is_empty() { "another AWS resource".to_string() } else { users.join(", ") };
                Err(ProviderError::Conflict(format!(
                    "{KIND} {arn} is in use by {users}; ACM deletes a certificate only once nothing uses it: detach it from those (a load balancer listener, a CloudFront distribution, an API Gateway domain) first"
                )))
            }
            Err(e) => gone(Err(classify("DeleteCertificate", e))),
        }
    }
}

#[async_trait]
impl ResourceKind for AcmCertificate {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(cert) = describe(&self.client, id).await? else { return Ok(None) };
        Ok(self.tags(id).await?.map(|tags| from_aws(&cert, tags)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let client = self.client.clone();
        crate::read_each::read_each(ids, || AcmCertificate::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        for generation in 0..TOKEN_GENERATIONS {
            let arn = self.request(&spec, desired, generation).await?;
            if let Some(cert) = self.settled(&arn).await? {
                // The tags were sent with the request; they are not read back.
                return Ok(from_aws(&cert, desired.tags.clone()));
            }
        }
        Err(ProviderError::Fatal(format!(
            "{KIND} {}: each of {TOKEN_GENERATIONS} request tokens names a certificate deleted within the last hour; ACM forgets them after an hour: apply again then",
            spec.domain_name
        )))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let mut current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND}: certificate {id} is gone")))?;
        // Everything else replaces the certificate: only its tags change in place.
        if changed.iter().any(|c| c == "tags") {
            self.set_tags(id, &current.tags, &desired.tags).await?;
            current.tags = desired.tags.clone();
        }
        Ok(current)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.delete_certificate(id).await
    }

    /// Certificates have random ARNs: the newest one for the same first name and key type
    /// carrying this owner's tags (ListCertificates lists RSA_2048 keys only unless asked).
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        let filters = Filters::builder().key_types(KeyAlgorithm::from(spec.key_algorithm.as_str())).build();
        let mut candidates = vec![];
        let mut token: Option<String> = None;
        loop {
            let page = self.client.list_certificates().includes(filters.clone()).set_next_token(token.take()).send().await.op("ListCertificates")?;
            for c in page.certificate_summary_list() {
                if c.domain_name() == Some(spec.domain_name.as_str()) {
                    if let Some(arn) = c.certificate_arn() {
                        candidates.push((c.created_at().map(|t| t.secs()).unwrap_or(0), arn.to_string()));
                    }
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        candidates.sort();
        for (_, arn) in candidates.into_iter().rev() {
            match self.tags(&arn).await? {
                Some(tags) if desired.owner.matches(&tags) => {
                    if let Some(cert) = self.settled(&arn).await? {
                        return Ok(Some(from_aws(&cert, tags)));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["acm:DescribeCertificate", "acm:ListTagsForCertificate"],
            // AddTagsToCertificate: RequestCertificate with tags is authorised as that too.
            // ListCertificates: find_owned after a lost answer; the update actions adopt what it finds.
            Operation::Create => &[
                "acm:RequestCertificate",
                "acm:AddTagsToCertificate",
                "acm:RemoveTagsFromCertificate",
                "acm:DescribeCertificate",
                "acm:ListCertificates",
                "acm:ListTagsForCertificate",
            ],
            Operation::Update => &["acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate", "acm:DescribeCertificate", "acm:ListTagsForCertificate"],
            Operation::Delete => &["acm:DeleteCertificate", "acm:DescribeCertificate"],
        }
    }
}

/// ACM answers a certificate over the account's names-per-certificate quota with
/// LimitExceededException; say which quota.
fn quota_or(err: ProviderError) -> ProviderError {
    match err {
        ProviderError::Invalid(m) if m.contains("LimitExceeded") => ProviderError::Invalid(format!(
            "{m} ({KIND}: the account's ACM quotas, such as 10 names per certificate or certificates per year, are raised in Service Quotas)"
        )),
        other => other,
    }
}

#[cfg(test)]
#[path = "acm_certificate_tests.rs"]
mod tests;
