//! Reading roles: one at a time (GetRole and the policy listings), or the whole account's at once.
//!
//! `GetAccountAuthorizationDetails` with `Filter=Role` answers, per role, the trust policy,
//! the inline policies with their documents, the attached managed policies, the permissions
//! boundary and the tags; it lacks the description and the longest session, which
//! `ListRoles` has (and which lacks tags and boundary). The two listings together hold every
//! prop a single read holds, for every role of the account, in a page per 1,000 roles each.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::{EntityType, Role, RoleDetail, Tag};
use cairn_engine::provider::{Observed, Props, ProviderError, Tags};
use serde_json::{json, Map, Value};

use super::{IamRole, SCHEMA};
use crate::error::{found, SdkResultExt};
use crate::iam_policy::decode_document;
use crate::kit::defaults;

/// Batches of at least this many roles are read with the two account-wide listings. Those cost
/// two calls plus one per further 1,000 roles of the account, whatever the batch; reading one
/// role costs three calls and one more per inline policy. From three roles on, the listings
/// cost less in any account of up to a thousand roles, and they stay a fixed cost as the
/// stack grows. Below that, reading each role is cheaper and does not depend on the account's size.
pub(super) const BULK_MIN: usize = 3;

/// IAM's largest page for both listings.
const PAGE: i32 = 1_000;

/// Everything a role's props, attrs and tags are made of, whichever call answered it.
pub(super) struct RoleFacts<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub description: &'a str,
    pub trust: Value,
    pub max_session_duration: i32,
    pub inline: Map<String, Value>,
    pub managed: BTreeSet<String>,
    pub boundary: Option<&'a str>,
    pub arn: &'a str,
    pub role_id: &'a str,
    pub tags: Tags,
}

impl RoleFacts<'_> {
    pub fn observed(self) -> Observed {
        let mut props = Props::new();
        props.insert("name".into(), json!(self.name));
        props.insert("path".into(), json!(self.path));
        props.insert("description".into(), json!(self.description));
        props.insert("assume_role_policy".into(), self.trust);
        props.insert("max_session_duration".into(), json!(self.max_session_duration));
        props.insert("inline_policies".into(), Value::Object(self.inline));
        // A BTreeSet, so the list is sorted.
        props.insert("managed_policy_arns".into(), json!(self.managed));
        if let Some(boundary) = self.boundary {
            props.insert("permissions_boundary".into(), json!(boundary));
        }
        let mut attrs = Props::new();
        attrs.insert("arn".into(), json!(self.arn));
        attrs.insert("unique_id".into(), json!(self.role_id));
        attrs.insert("name".into(), json!(self.name));
        Observed { id: self.name.to_string(), props, attrs, tags: self.tags }
    }
}

pub(super) fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// Reads one role: GetRole, then its inline policies (listed, then each read) and attached policies.
pub(super) async fn read_one(kind: &IamRole, id: &str) -> Result<Option<Observed>, ProviderError> {
    let Some(out) = found(kind.client.get_role().role_name(id).send().await.op("GetRole"))? else {
        return Ok(None);
    };
    let Some(role) = out.role() else {
        return Ok(None);
    };
    let Some(inline) = found(kind.inline_documents(id).await)? else {
        return Ok(None);
    };
    let Some(managed) = found(kind.attached_arns(id).await)? else {
        return Ok(None);
    };
    Ok(Some(
        RoleFacts {
            name: role.role_name(),
            path: role.path(),
            description: role.description().unwrap_or_default(),
            trust: role.assume_role_policy_document().map(decode_document).unwrap_or(Value::Null),
            max_session_duration: role.max_session_duration().unwrap_or_else(|| defaults::default_int(&SCHEMA, "max_session_duration") as i32),
            inline,
            managed,
            boundary: role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
            arn: role.arn(),
            role_id: role.role_id(),
            tags: tag_map(role.tags()),
        }
        .observed(),
    ))
}

/// Reads the batch with the two account-wide listings, run side by side. A role in neither is
/// gone; a role only one listing shows (made or deleted between the two) is read on its own.
pub(super) async fn read_bulk(kind: &IamRole, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
    let details = async {
        let pages: Vec<_> = kind
            .client
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .max_items(PAGE)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .op("GetAccountAuthorizationDetails")?;
        Ok::<_, ProviderError>(pages.into_iter().flat_map(|p| p.role_detail_list.unwrap_or_default()).collect::<Vec<RoleDetail>>())
    };
    let listed = async { kind.client.list_roles().max_items(PAGE).into_paginator().items().send().try_collect().await.op("ListRoles") };
    let (details, listed): (Vec<RoleDetail>, Vec<Role>) = tokio::try_join!(details, listed)?;
    let details: BTreeMap<&str, &RoleDetail> = details.iter().filter_map(|d| Some((d.role_name()?, d))).collect();
    let listed: BTreeMap<&str, &Role> = listed.iter().map(|r| (r.role_name(), r)).collect();

    let mut out = BTreeMap::new();
    for id in ids {
        let observed = match (details.get(id.as_str()), listed.get(id.as_str())) {
            (Some(detail), Some(role)) => Some(from_listings(detail, role)),
            (None, None) => None,
            _ => read_one(kind, id).await?,
        };
        out.insert(id.clone(), observed);
    }
    Ok(out)
}

/// One role from its two listings' entries: the same props, attrs and tags `read_one` gives.
fn from_listings(detail: &RoleDetail, role: &Role) -> Observed {
    RoleFacts {
        name: role.role_name(),
        path: role.path(),
        description: role.description().unwrap_or_default(),
        trust: detail.assume_role_policy_document().or(role.assume_role_policy_document()).map(decode_document).unwrap_or(Value::Null),
        max_session_duration: role.max_session_duration().unwrap_or_else(|| defaults::default_int(&SCHEMA, "max_session_duration") as i32),
        inline: detail.role_policy_list().iter().filter_map(|p| Some((p.policy_name()?.to_string(), decode_document(p.policy_document()?)))).collect(),
        managed: detail.attached_managed_policies().iter().filter_map(|p| p.policy_arn()).map(str::to_string).collect(),
        boundary: detail.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
        arn: role.arn(),
        role_id: role.role_id(),
        tags: tag_map(detail.tags()),
    }
    .observed()
}
