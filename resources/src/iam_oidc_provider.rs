//! `aws.iam.oidc_provider`: an IAM OpenID Connect identity provider (an EKS cluster's issuer for IRSA, GitHub Actions, ...).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput;
use aws_sdk_iam::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::{json, Value};

use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::adopt::adopt_or;
use crate::error::{classify, found, gone, SdkResultExt};
use crate::iam_policy::iam_tags;
use crate::kit::defaults::wanted;
use crate::kit::errors::invalid;
use crate::kit::tagging;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.iam.oidc_provider",
    doc: "An IAM OpenID Connect identity provider, e.g. an EKS cluster's issuer (`${cluster.oidc_issuer_url}`) for IAM roles for service accounts, or https://token.actions.githubusercontent.com. Its id is the provider ARN.",
    props: &[
        PropSpec::new("url", PropType::Text(TextRule::len(9, 255)), "Issuer URL, starting with https://.").required().force_new().rule(url_rule),
        PropSpec::new("client_id_list", PropType::List(&PropType::Text(TextRule::len(1, 255))), "Audiences (client ids) allowed to use the provider (at most 100).")
            .default("[\"sts.amazonaws.com\"]")
            .rule(client_ids_rule),
        // No "[]" default: when no thumbprint is given, IAM fetches and stores the issuer's
        // own, so an empty default would differ from AWS forever.
        PropSpec::new(
            "thumbprint_list",
            // A SHA-1 fingerprint in hex: 40 characters.
            PropType::List(&PropType::Text(TextRule::len(40, 40).chars(""))),
            "SHA-1 thumbprints of the issuer's certificate chain. Unset lets IAM fetch and keep them itself (it no longer needs them for providers with well-known CAs); set them to manage them (at most 5).",
        )
        .rule(thumbprints_rule),
    ],
    attrs: &["arn"],
    taggable: true,
    rules: &[],
};

/// IAM keeps the URL of an https issuer only.
fn url_rule(url: &Value) -> Vec<String> {
    match url.as_str() {
        Some(u) if !u.starts_with("https://") => vec![format!("\"{u}\" must start with https://")],
        _ => vec![],
    }
}

fn at_most(list: &Value, max: usize, what: &str) -> Vec<String> {
    match list.as_array() {
        Some(items) if items.len() > max => vec![format!("may hold at most {max} {what}, not {}", items.len())],
        _ => vec![],
    }
}

fn client_ids_rule(list: &Value) -> Vec<String> {
    at_most(list, 100, "client ids")
}

fn thumbprints_rule(list: &Value) -> Vec<String> {
    at_most(list, 5, "thumbprints")
}

const READ_ACTIONS: &[&str] = &["iam:GetOpenIDConnectProvider"];
// ListOpenIDConnectProviders: crash recovery looks the provider up by URL.
const CREATE_ACTIONS: &[&str] =
    &["iam:ListOpenIDConnectProviders", "iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider", "iam:GetOpenIDConnectProvider"];
const UPDATE_ACTIONS: &[&str] = &[
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:TagOpenIDConnectProvider",
    "iam:UntagOpenIDConnectProvider",
    "iam:GetOpenIDConnectProvider",
];
const DELETE_ACTIONS: &[&str] = &["iam:DeleteOpenIDConnectProvider"];

fn string_list(desired: &Desired, name: &str) -> Result<Option<Vec<String>>, ProviderError> {
    let shape = || invalid(SCHEMA.kind, format!("{name} must be a list of strings"));
    match wanted(&SCHEMA, desired, name) {
        None => Ok(None),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(shape)).collect::<Result<Vec<_>, _>>().map(Some),
        Some(_) => Err(shape()),
    }
}

fn url(desired: &Desired) -> Result<String, ProviderError> {
    match wanted(&SCHEMA, desired, "url") {
        Some(Value::String(u)) if u.starts_with("https://") && u.len() > "https://".len() => Ok(u),
        Some(other) => Err(invalid(SCHEMA.kind, format!("url must be an https:// URL, not {other}"))),
        None => Err(invalid(SCHEMA.kind, "url is required")),
    }
}

/// IAM keeps the URL without its scheme (it is always https); the stack writes it with.
fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    }
}

/// What an ARN for this URL ends with: `oidc-provider/HOST/PATH`.
fn arn_suffix(url: &str) -> String {
    let bare = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    format!(":oidc-provider/{}", bare.trim_end_matches('/'))
}

/// What CreateOpenIDConnectProvider is sent, after the schema's checks (values known only
/// at apply, such as a cluster's issuer URL, were not checked at validate).
struct CreateRequest {
    url: String,
    client_ids: Vec<String>,
    thumbprints: Option<Vec<String>>,
}

fn create_request(desired: &Desired) -> Result<CreateRequest, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    Ok(CreateRequest {
        url: url(desired)?,
        client_ids: string_list(desired, "client_id_list")?.unwrap_or_default(),
        thumbprints: string_list(desired, "thumbprint_list")?.filter(|t| !t.is_empty()),
    })
}

fn sorted(items: &[String]) -> Value {
    let set: BTreeSet<&String> = items.iter().collect();
    json!(set)
}

fn observed(arn: &str, out: &GetOpenIdConnectProviderOutput) -> Observed {
    let mut props = Props::new();
    props.insert("url".into(), json!(with_scheme(out.url().unwrap_or_default())));
    props.insert("client_id_list".into(), sorted(out.client_id_list()));
    props.insert("thumbprint_list".into(), sorted(out.thumbprint_list()));
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(arn));
    let tags: Tags = out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    Observed { id: arn.to_string(), props, attrs, tags }
}

crate::kit::client::client_kind!(IamOidcProvider, Client, iam);

impl IamOidcProvider {
    async fn get(&self, arn: &str) -> Result<Option<GetOpenIdConnectProviderOutput>, ProviderError> {
        found(self.client.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await.op("GetOpenIDConnectProvider"))
    }
}

impl IamOidcProvider {
    /// The account's provider for the desired URL, whoever made it (there is at most one per URL).
    async fn by_url(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let suffix = arn_suffix(&url(desired)?);
        let listed = self.client.list_open_id_connect_providers().send().await.op("ListOpenIDConnectProviders")?;
        let Some(arn) = listed.open_id_connect_provider_list().iter().filter_map(|p| p.arn()).find(|arn| arn.trim_end_matches('/').ends_with(&suffix)) else {
            return Ok(None);
        };
        self.read(arn).await
    }
}

#[async_trait]
impl ResourceKind for IamOidcProvider {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.get(id).await?.map(|out| observed(id, &out)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // One resource per read call: the reads run side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || IamOidcProvider::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let CreateRequest { url, client_ids, thumbprints } = create_request(desired)?;
        let out = self
            .client
            .create_open_id_connect_provider()
            .url(&url)
            .set_client_id_list(Some(client_ids))
            .set_thumbprint_list(thumbprints)
            .set_tags((!desired.tags.is_empty()).then(|| iam_tags(&desired.tags)).transpose()?)
            .send()
            .await;
        let out = match out {
            // One provider per URL: an earlier attempt whose answer was lost made it, or someone else did.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let existing = self.by_url(desired).await?;
                return adopt_or(self, desired, &format!("OIDC provider for {url}"), existing, classify("CreateOpenIDConnectProvider", e)).await;
            }
            other => other.op("CreateOpenIDConnectProvider")?,
        };
        let arn = out.open_id_connect_provider_arn().ok_or_else(|| ProviderError::Fatal("CreateOpenIDConnectProvider: no ARN in the response".into()))?;
        self.read(arn).await?.ok_or_else(|| ProviderError::Retryable(format!("aws.iam.oidc_provider {arn} is not readable yet")))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let gone_during = || ProviderError::NotFound(format!("aws.iam.oidc_provider {id} disappeared during update"));
        let has = |p: &str| changed.iter().any(|c| c == p);
        let current = self.get(id).await?.ok_or_else(gone_during)?;
        if has("client_id_list") {
            let want: BTreeSet<String> = string_list(desired, "client_id_list")?.unwrap_or_default().into_iter().collect();
            let have: BTreeSet<String> = current.client_id_list().iter().cloned().collect();
            for client_id in want.difference(&have) {
                self.client
                    .add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(id)
                    .client_id(client_id)
                    .send()
                    .await
                    .op("AddClientIDToOpenIDConnectProvider")?;
            }
            for client_id in have.difference(&want) {
                let result = self.client.remove_client_id_from_open_id_connect_provider().open_id_connect_provider_arn(id).client_id(client_id).send().await;
                result.map(|_| ()).op("RemoveClientIDFromOpenIDConnectProvider")?;
            }
        }
        if has("thumbprint_list") {
            let thumbprints = string_list(desired, "thumbprint_list")?.unwrap_or_default();
            self.client
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(id)
                .set_thumbprint_list(Some(thumbprints))
                .send()
                .await
                .op("UpdateOpenIDConnectProviderThumbprint")?;
        }
        if has("tags") {
            let have: Tags = current.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            let set = |set: Tags| async move {
                self.client
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(id)
                    .set_tags(Some(iam_tags(&set)?))
                    .send()
                    .await
                    .map(|_| ())
                    .op("TagOpenIDConnectProvider")
            };
            let remove = |remove: Vec<String>| async move {
                self.client
                    .untag_open_id_connect_provider()
                    .open_id_connect_provider_arn(id)
                    .set_tag_keys(Some(remove))
                    .send()
                    .await
                    .map(|_| ())
                    .op("UntagOpenIDConnectProvider")
            };
            tagging::sync(&have, &desired.tags, set, remove).await?;
        }
        self.read(id).await?.ok_or_else(gone_during)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_open_id_connect_provider().open_id_connect_provider_arn(id).send().await.map(|_| ()).op("DeleteOpenIDConnectProvider"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.by_url(desired).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => READ_ACTIONS,
            Operation::Create => CREATE_ACTIONS,
            Operation::Update => UPDATE_ACTIONS,
            Operation::Delete => DELETE_ACTIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_iam::operation::add_client_id_to_open_id_connect_provider::AddClientIdToOpenIdConnectProviderOutput;
    use aws_sdk_iam::operation::create_open_id_connect_provider::CreateOpenIdConnectProviderOutput;
    use aws_sdk_iam::operation::delete_open_id_connect_provider::{DeleteOpenIDConnectProviderError, DeleteOpenIdConnectProviderOutput};
    use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIDConnectProviderError;
    use aws_sdk_iam::operation::list_open_id_connect_providers::ListOpenIdConnectProvidersOutput;
    use aws_sdk_iam::operation::remove_client_id_from_open_id_connect_provider::RemoveClientIdFromOpenIdConnectProviderOutput;
    use aws_sdk_iam::operation::tag_open_id_connect_provider::TagOpenIdConnectProviderOutput;
    use aws_sdk_iam::operation::untag_open_id_connect_provider::UntagOpenIdConnectProviderOutput;
    use aws_sdk_iam::operation::update_open_id_connect_provider_thumbprint::UpdateOpenIdConnectProviderThumbprintOutput;
    use aws_sdk_iam::types::error::NoSuchEntityException;
    use aws_sdk_iam::types::{OpenIdConnectProviderListEntry, Tag};
    use aws_smithy_mocks::{mock, Rule};
    use aws_smithy_types::error::ErrorMetadata;
    use cairn_engine::provider::Owner;

    const URL: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123";
    const ARN: &str = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123";
    const PRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";

    fn kind(rules: &[&Rule]) -> IamOidcProvider {
        IamOidcProvider::from_client(crate::mocked_client!(aws_sdk_iam, rules))
    }

    fn desired(props: Value) -> Desired {
        let owner = Owner { stack: "shop".into(), env: "prod".into(), address: "oidc".into() };
        let mut tags = owner.tags();
        tags.insert("team".into(), "platform".into());
        Desired { props: props.as_object().unwrap().clone(), tags, owner, default_name: "shop-prod-oidc".into(), idempotency_token: "t".into() }
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag::builder().key(k).value(v).build().unwrap()
    }

    fn got(tags: &Tags, client_ids: &[&str]) -> GetOpenIdConnectProviderOutput {
        GetOpenIdConnectProviderOutput::builder()
            .url("oidc.eks.us-east-1.amazonaws.com/id/ABC123")
            .set_client_id_list(Some(client_ids.iter().map(|s| s.to_string()).collect()))
            .thumbprint_list(PRINT)
            .set_tags(Some(tags.iter().map(|(k, v)| tag(k, v)).collect()))
            .build()
    }

    fn no_such_entity() -> ErrorMetadata {
        ErrorMetadata::builder().code("NoSuchEntity").message("not found").build()
    }

    fn assert_actions(actions: &[&str], operations: &[&str]) {
        for op in operations {
            assert!(actions.contains(&format!("iam:{op}").as_str()), "iam:{op} missing from {actions:?}");
        }
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({}),
            json!({"url": "http://issuer.example.com"}),
            json!({"url": "issuer.example.com"}),
            json!({"url": 3}),
            json!({"url": format!("https://{}", "a".repeat(250))}),
            json!({"url": URL, "client_id_list": "sts.amazonaws.com"}),
            json!({"url": URL, "client_id_list": [""]}),
            json!({"url": URL, "client_id_list": (0..101).map(|n| format!("id{n}")).collect::<Vec<_>>()}),
            json!({"url": URL, "thumbprint_list": ["abc"]}),
            json!({"url": URL, "thumbprint_list": vec!["a".repeat(40); 6]}),
        ] {
            let d = desired(props.clone());
            assert!(create_request(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a CreateOpenIDConnectProvider request.
        /// The URL is drawn as `https://` plus a host and path: random text would almost never
        /// start with the scheme, and `url` is required.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(
            rest in "[a-z0-9.-]{1,40}(/[a-z0-9]{1,20})?",
            client_ids in proptest::option::of(crate::schema_gen::value(SCHEMA.prop("client_id_list").unwrap().ty)),
            thumbprints in proptest::option::of(crate::schema_gen::value(SCHEMA.prop("thumbprint_list").unwrap().ty)),
        ) {
            let mut props = Props::new();
            props.insert("url".into(), json!(format!("https://{rest}")));
            props.extend(client_ids.map(|v| ("client_id_list".to_string(), v)));
            props.extend(thumbprints.map(|v| ("thumbprint_list".to_string(), v)));
            proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &props));
            let req = create_request(&desired(Value::Object(props)));
            proptest::prop_assert!(req.is_ok(), "{:?}", req.err());
            proptest::prop_assert!(req.unwrap().url.starts_with("https://"));
        }
    }

    #[tokio::test]
    async fn create_sends_tags_and_reads_url_back_with_its_scheme() {
        let d = desired(json!({"url": URL, "thumbprint_list": [PRINT]}));
        let tags = d.tags.clone();
        let create = mock!(Client::create_open_id_connect_provider)
            .match_requests(|r| {
                let tags: Tags = r.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                r.url() == Some(URL)
                    && r.client_id_list() == ["sts.amazonaws.com"]
                    && r.thumbprint_list() == [PRINT]
                    && tags.get("cairn:address").map(String::as_str) == Some("oidc")
                    && tags.get("team").map(String::as_str) == Some("platform")
            })
            .then_output(|| CreateOpenIdConnectProviderOutput::builder().open_id_connect_provider_arn(ARN).build());
        let t = tags.clone();
        let get = mock!(Client::get_open_id_connect_provider)
            .match_requests(|r| r.open_id_connect_provider_arn() == Some(ARN))
            .then_output(move || got(&t, &["sts.amazonaws.com"]));

        let observed = kind(&[&create, &get]).create(&d).await.unwrap();

        assert_eq!(observed.id, ARN);
        assert_eq!(observed.attrs["arn"], json!(ARN));
        assert_eq!(observed.props["url"], json!(URL));
        assert_eq!(observed.props["client_id_list"], json!(["sts.amazonaws.com"]));
        assert_eq!(observed.props["thumbprint_list"], json!([PRINT]));
        assert_eq!(observed.tags, tags);
        assert_actions(CREATE_ACTIONS, &["CreateOpenIDConnectProvider", "GetOpenIDConnectProvider", "TagOpenIDConnectProvider"]);
    }

    #[tokio::test]
    async fn create_without_thumbprints_omits_them() {
        let create = mock!(Client::create_open_id_connect_provider)
            .match_requests(|r| r.thumbprint_list.is_none())
            .then_output(|| CreateOpenIdConnectProviderOutput::builder().open_id_connect_provider_arn(ARN).build());
        let get = mock!(Client::get_open_id_connect_provider).then_output(|| got(&Tags::new(), &["sts.amazonaws.com"]));
        kind(&[&create, &get]).create(&desired(json!({"url": URL}))).await.unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn urls_that_are_not_https_are_invalid() {
        for bad in [json!("http://issuer.example.com"), json!("issuer.example.com"), json!(3)] {
            assert!(matches!(kind(&[]).create(&desired(json!({"url": bad.clone()}))).await, Err(ProviderError::Invalid(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn read_of_missing_provider_is_none() {
        let get = mock!(Client::get_open_id_connect_provider).then_error(|| {
            GetOpenIDConnectProviderError::NoSuchEntityException(NoSuchEntityException::builder().message("gone").meta(no_such_entity()).build())
        });
        assert_eq!(kind(&[&get]).read(ARN).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_provider_is_ok() {
        let delete = mock!(Client::delete_open_id_connect_provider).then_error(|| {
            DeleteOpenIDConnectProviderError::NoSuchEntityException(NoSuchEntityException::builder().message("gone").meta(no_such_entity()).build())
        });
        kind(&[&delete]).delete(ARN).await.unwrap();
        let deleted = mock!(Client::delete_open_id_connect_provider)
            .match_requests(|r| r.open_id_connect_provider_arn() == Some(ARN))
            .then_output(|| DeleteOpenIdConnectProviderOutput::builder().build());
        kind(&[&deleted]).delete(ARN).await.unwrap();
        assert_actions(DELETE_ACTIONS, &["DeleteOpenIDConnectProvider"]);
    }

    #[tokio::test]
    async fn update_adds_and_removes_client_ids_and_replaces_thumbprints() {
        let get = mock!(Client::get_open_id_connect_provider)
            .then_output(|| got(&Tags::from([("old".to_string(), "x".to_string())]), &["sts.amazonaws.com", "legacy"]));
        let add = mock!(Client::add_client_id_to_open_id_connect_provider)
            .match_requests(|r| r.client_id() == Some("argocd"))
            .then_output(|| AddClientIdToOpenIdConnectProviderOutput::builder().build());
        let remove = mock!(Client::remove_client_id_from_open_id_connect_provider)
            .match_requests(|r| r.client_id() == Some("legacy"))
            .then_output(|| RemoveClientIdFromOpenIdConnectProviderOutput::builder().build());
        let prints = mock!(Client::update_open_id_connect_provider_thumbprint)
            .match_requests(|r| r.thumbprint_list() == ["a".repeat(40)])
            .then_output(|| UpdateOpenIdConnectProviderThumbprintOutput::builder().build());
        let tag = mock!(Client::tag_open_id_connect_provider)
            .match_requests(|r| r.tags().iter().any(|t| t.key() == "team"))
            .then_output(|| TagOpenIdConnectProviderOutput::builder().build());
        let untag = mock!(Client::untag_open_id_connect_provider)
            .match_requests(|r| r.tag_keys() == ["old"])
            .then_output(|| UntagOpenIdConnectProviderOutput::builder().build());
        let d = desired(json!({"url": URL, "client_id_list": ["sts.amazonaws.com", "argocd"], "thumbprint_list": ["a".repeat(40)]}));
        let changed: Vec<String> = ["client_id_list", "thumbprint_list", "tags"].iter().map(|s| s.to_string()).collect();
        kind(&[&get, &add, &remove, &prints, &tag, &untag]).update(ARN, &d, &changed).await.unwrap();
        assert_eq!((add.num_calls(), remove.num_calls(), prints.num_calls(), tag.num_calls(), untag.num_calls()), (1, 1, 1, 1, 1));
        assert_actions(
            UPDATE_ACTIONS,
            &[
                "AddClientIDToOpenIDConnectProvider",
                "RemoveClientIDFromOpenIDConnectProvider",
                "UpdateOpenIDConnectProviderThumbprint",
                "TagOpenIDConnectProvider",
                "UntagOpenIDConnectProvider",
                "GetOpenIDConnectProvider",
            ],
        );
    }

    #[tokio::test]
    async fn find_owned_matches_the_url_and_the_owner() {
        let d = desired(json!({"url": URL}));
        let list = mock!(Client::list_open_id_connect_providers).then_output(|| {
            ListOpenIdConnectProvidersOutput::builder()
                .open_id_connect_provider_list(
                    OpenIdConnectProviderListEntry::builder().arn("arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com").build(),
                )
                .open_id_connect_provider_list(OpenIdConnectProviderListEntry::builder().arn(ARN).build())
                .build()
        });
        let tags = d.tags.clone();
        let get = mock!(Client::get_open_id_connect_provider)
            .match_requests(|r| r.open_id_connect_provider_arn() == Some(ARN))
            .then_output(move || got(&tags, &["sts.amazonaws.com"]));
        assert_eq!(kind(&[&list, &get]).find_owned(&d).await.unwrap().map(|o| o.id), Some(ARN.to_string()));
        let foreign = mock!(Client::get_open_id_connect_provider).then_output(|| got(&Tags::new(), &["sts.amazonaws.com"]));
        assert_eq!(kind(&[&list, &foreign]).find_owned(&d).await.unwrap(), None);
        let other = desired(json!({"url": "https://oidc.eks.us-east-1.amazonaws.com/id/ABC"}));
        assert_eq!(kind(&[&list]).find_owned(&other).await.unwrap(), None, "a URL that is a prefix of another does not match it");
        assert_actions(CREATE_ACTIONS, &["ListOpenIDConnectProviders"]);
    }

    #[tokio::test]
    async fn create_answered_already_exists_adopts_ours_and_refuses_another() {
        let d = desired(json!({"url": URL, "client_id_list": ["sts.amazonaws.com"]}));
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("EntityAlreadyExists").message("exists").build();
        let create = mock!(Client::create_open_id_connect_provider)
            .then_error(move || aws_sdk_iam::operation::create_open_id_connect_provider::CreateOpenIDConnectProviderError::generic(meta.clone()));
        let list = mock!(Client::list_open_id_connect_providers).then_output(|| {
            ListOpenIdConnectProvidersOutput::builder().open_id_connect_provider_list(OpenIdConnectProviderListEntry::builder().arn(ARN).build()).build()
        });
        let tags = d.tags.clone();
        let ours = mock!(Client::get_open_id_connect_provider).then_output(move || got(&tags, &["sts.amazonaws.com"]));
        assert_eq!(kind(&[&create, &list, &ours]).create(&d).await.unwrap().id, ARN);
        let theirs = mock!(Client::get_open_id_connect_provider).then_output(|| got(&Tags::new(), &["sts.amazonaws.com"]));
        crate::adopt::testing::assert_refused(kind(&[&create, &list, &theirs]).create(&d).await, "OIDC provider for");
    }

    #[test]
    fn every_operation_lists_read() {
        for action in READ_ACTIONS {
            assert!(CREATE_ACTIONS.contains(action) && UPDATE_ACTIONS.contains(action), "{action}");
        }
    }
}
