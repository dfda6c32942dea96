//! Updates in place: UpdateNodegroupConfig (scaling, labels, taints, update_config), then UpdateNodegroupVersion (version, AMI release, launch template version), then tags.

use std::collections::BTreeSet;

use aws_sdk_eks::types::{NodegroupScalingConfig, Taint, UpdateLabelsPayload, UpdateTaintsPayload};
use cairn_engine::provider::{Desired, Observed, ProviderError, ResourceKind};

use super::schema::{SCALING_PROPS, SCHEMA, VERSION_PROPS};
use super::spec::{Spec, TaintSpec};
use super::EksNodegroup;
use crate::eks_common::{split_id, sync_tags, tags_of, wait_update, EksResultExt};

impl EksNodegroup {
    /// Sends what changed in as few calls as EKS allows, waits for each update, and returns
    /// the node group as read afterwards.
    pub(super) async fn change(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let wait = spec.wait;
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:NODEGROUP")?;
        let gone_during = || ProviderError::NotFound(format!("aws.eks.nodegroup {id} disappeared during update"));
        let has = |p: &str| changed.iter().any(|c| c == p);
        let current = self.describe(cluster, name).await?.ok_or_else(gone_during)?;

        // A new launch template (or none where there was one) is not an update EKS makes.
        if has("launch_template") {
            if let Some(want) = &spec.launch_template {
                if !current.launch_template().is_some_and(|have| want.same_template(have)) {
                    return Err(ProviderError::Invalid(format!(
                        "aws.eks.nodegroup {id}: EKS keeps the launch template a node group was created with; a node group on launch template {} {} \
                         needs a new node group: give it another name so cairn replaces it",
                        want.key, want.value
                    )));
                }
            }
        }

        // The configuration first, so that a version update in the same apply rolls the nodes
        // as the new update_config says; EKS runs one update of a node group at a time.
        let mut request = self.client.update_nodegroup_config().cluster_name(cluster).nodegroup_name(name);
        let mut any = false;
        if SCALING_PROPS.iter().any(|p| has(p)) {
            let (min, max, want) = (spec.min, spec.max, spec.want);
            // Unmanaged desired_size stays where autoscaling put it, moved into the new range.
            let now = current.scaling_config().and_then(|s| s.desired_size()).unwrap_or(min);
            let target = want.unwrap_or_else(|| now.clamp(min, max));
            request = request.scaling_config(NodegroupScalingConfig::builder().min_size(min).max_size(max).desired_size(target).build());
            any = true;
        }
        if has("labels") {
            let want = &spec.labels;
            let have = current.labels().cloned().unwrap_or_default();
            let set: std::collections::HashMap<String, String> =
                want.iter().filter(|(k, v)| have.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
            let mut remove: Vec<String> = have.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
            remove.sort();
            if !set.is_empty() || !remove.is_empty() {
                let payload = UpdateLabelsPayload::builder()
                    .set_add_or_update_labels((!set.is_empty()).then_some(set))
                    .set_remove_labels((!remove.is_empty()).then_some(remove))
                    .build();
                request = request.labels(payload);
                any = true;
            }
        }
        if has("taints") {
            let want = &spec.taints;
            let have: BTreeSet<TaintSpec> = current.taints().iter().map(TaintSpec::from_sdk).collect();
            let add: Vec<Taint> = want.iter().filter(|t| !have.contains(t)).map(TaintSpec::sdk).collect();
            let remove: Vec<Taint> = have.iter().filter(|h| !want.iter().any(|w| w.key == h.key && w.effect == h.effect)).map(TaintSpec::sdk).collect();
            if !add.is_empty() || !remove.is_empty() {
                let payload = UpdateTaintsPayload::builder()
                    .set_add_or_update_taints((!add.is_empty()).then_some(add))
                    .set_remove_taints((!remove.is_empty()).then_some(remove))
                    .build();
                request = request.taints(payload);
                any = true;
            }
        }
        if has("update_config") {
            if let Some(config) = &spec.update_config {
                request = request.update_config(config.clone());
                any = true;
            }
        }
        if any {
            let out = request.send().await.eks("UpdateNodegroupConfig")?;
            match out.update() {
                Some(update) => wait_update(&self.client, cluster, Some(name), update, &format!("aws.eks.nodegroup {id}"), wait).await?,
                None => self.wait_active(cluster, name, wait).await?,
            }
        }
        if VERSION_PROPS.iter().any(|p| has(p)) {
            self.upgrade(cluster, name, &spec, desired, changed).await?;
        }
        if has("tags") || has("launch_template") {
            sync_tags(&self.client, current.nodegroup_arn().unwrap_or_default(), &tags_of(current.tags()), &spec.tags(desired)).await?;
        }
        self.read(id).await?.ok_or_else(gone_during)
    }

    /// UpdateNodegroupVersion with what changed of version, AMI release and launch template
    /// version, then waits for the rolling update (DescribeUpdate until Successful).
    async fn upgrade(&self, cluster: &str, name: &str, spec: &Spec, desired: &Desired, changed: &[String]) -> Result<(), ProviderError> {
        let has = |p: &str| changed.iter().any(|c| c == p);
        let mut request = self.client.update_nodegroup_version().cluster_name(cluster).nodegroup_name(name);
        let mut target = vec![];
        if let Some(v) = spec.version.as_ref().filter(|_| has("version")) {
            request = request.version(v);
            target.push(format!("Kubernetes {v}"));
        }
        if let Some(r) = spec.release_version.as_ref().filter(|_| has("release_version")) {
            request = request.release_version(r);
            target.push(format!("AMI release {r}"));
        }
        if let Some(t) = spec.launch_template.as_ref().filter(|_| has("launch_template")) {
            request = request.launch_template(t.sdk());
            target.push(format!("launch template version {}", t.version));
        }
        if target.is_empty() {
            return Ok(());
        }
        // The token makes a re-sent request (its answer lost) the same update, not a second one
        // EKS would refuse while the first runs.
        let out = request.client_request_token(format!("{}-version", desired.idempotency_token)).send().await.eks("UpdateNodegroupVersion")?;
        let what = format!("aws.eks.nodegroup {cluster}:{name} update to {}", target.join(", "));
        match out.update() {
            Some(update) => wait_update(&self.client, cluster, Some(name), update, &what, spec.wait).await,
            None => self.wait_active(cluster, name, spec.wait).await,
        }
    }
}
