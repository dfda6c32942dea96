//! `aws.eks.nodegroup`: an EKS managed node group with its instances, scaling, labels, taints, Kubernetes version, AMI release and launch template.

use async_trait::async_trait;
use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::types::{Nodegroup, NodegroupScalingConfig};
use aws_sdk_eks::Client;
use cairn_engine::provider::{Desired, Observed, Operation, ProviderError, ResourceKind, ResourceSchema};

use crate::adopt::{adopt, foreign};
use crate::aws::AwsContext;
use crate::eks_common::{
    minutes, request_tags, required_string, split_id, still, still_deleting, wait_cluster_active, wait_minutes, waited, EksResultExt, Waited,
    DEFAULT_WAIT_MINUTES,
};
use crate::error::{found, gone};
use crate::rds_common::message_of;

mod schema;
mod spec;
#[cfg(test)]
mod tests;
mod update;
#[cfg(test)]
mod version_tests;

pub use schema::SCHEMA;
use schema::{CREATE_ACTIONS, DELETE_ACTIONS, READ_ACTIONS, UPDATE_ACTIONS};
use spec::{health_of, node_group_id, observed, status_of, Spec, TaintSpec};

pub struct EksNodegroup {
    client: Client,
}

impl EksNodegroup {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.eks())
    }

    pub fn from_client(client: Client) -> Self {
        EksNodegroup { client }
    }

    async fn describe(&self, cluster: &str, name: &str) -> Result<Option<Nodegroup>, ProviderError> {
        let out = found(self.client.describe_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await.eks("DescribeNodegroup"))?;
        Ok(out.and_then(|o| o.nodegroup().cloned()))
    }

    async fn status(&self, cluster: &str, name: &str) -> String {
        match self.describe(cluster, name).await {
            Ok(Some(ng)) => status_of(&ng).to_string(),
            Ok(None) => "gone".into(),
            Err(_) => "not ACTIVE".into(),
        }
    }

    async fn wait_active(&self, cluster: &str, name: &str, wait: u64) -> Result<(), ProviderError> {
        let result = self.client.wait_until_nodegroup_active().cluster_name(cluster).nodegroup_name(name).wait(minutes(wait)).await;
        match waited("DescribeNodegroup", result)? {
            Waited::Reached => Ok(()),
            Waited::TimedOut => Err(still(&format!("aws.eks.nodegroup {cluster}:{name}"), &self.status(cluster, name).await, wait)),
            Waited::Failed(out) => {
                let (status, why) = out.nodegroup().map(|ng| (status_of(ng).to_string(), health_of(ng))).unwrap_or_default();
                Err(ProviderError::Fatal(format!(
                    "aws.eks.nodegroup {cluster}:{name} is {status} instead of ACTIVE{why}; fix the cause, delete it (`aws eks delete-nodegroup --cluster-name {cluster} --nodegroup-name {name}`) and apply again"
                )))
            }
        }
    }
}

#[async_trait]
impl ResourceKind for EksNodegroup {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:NODEGROUP")?;
        let ng = self.describe(cluster, name).await?;
        Ok(ng.filter(|ng| status_of(ng) != "DELETING").map(|ng| observed(&ng)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let tags = spec.tags(desired);
        let Spec {
            cluster,
            name,
            role,
            subnets,
            min,
            max,
            want,
            labels,
            taints,
            capacity,
            disk,
            ami,
            instance_types,
            version,
            release_version,
            launch_template,
            update_config,
            wait,
        } = spec;
        wait_cluster_active(&self.client, &cluster, wait).await?;
        let created = self
            .client
            .create_nodegroup()
            .cluster_name(&cluster)
            .nodegroup_name(&name)
            .node_role(role)
            .set_subnets(Some(subnets))
            .scaling_config(NodegroupScalingConfig::builder().min_size(min).max_size(max).desired_size(want.unwrap_or(min)).build())
            .set_instance_types(instance_types)
            .capacity_type(capacity)
            .set_ami_type(ami)
            .set_disk_size(disk)
            .set_labels((!labels.is_empty()).then_some(labels))
            .set_taints((!taints.is_empty()).then(|| taints.iter().map(TaintSpec::sdk).collect()))
            .set_version(version)
            .set_release_version(release_version)
            .set_launch_template(launch_template.as_ref().map(|t| t.sdk()))
            .set_update_config(update_config)
            .set_tags(request_tags(&tags))
            .client_request_token(&desired.idempotency_token)
            .send()
            .await
            .eks("CreateNodegroup");
        let id = node_group_id(&cluster, &name);
        let what = format!("EKS node group {id}");
        let adopted = match created {
            Ok(_) => false,
            // The name is taken: by this node group when a run died while waiting for it, or by someone else.
            Err(e @ ProviderError::Conflict(_)) if message_of(e.clone()).contains("ResourceInUseException") => match self.read(&id).await? {
                Some(o) if desired.owner.matches(&o.tags) => true,
                Some(o) => return Err(foreign(SCHEMA.kind, &what, desired, &o.tags)),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        self.wait_active(&cluster, &name, wait).await?;
        let observed = self.read(&id).await?.ok_or_else(|| ProviderError::Retryable(format!("aws.eks.nodegroup {id} is not readable yet")))?;
        if adopted {
            return adopt(self, desired, &what, observed).await;
        }
        Ok(observed)
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        self.change(id, desired, changed).await
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:NODEGROUP")?;
        let Some(ng) = self.describe(cluster, name).await? else {
            return Ok(());
        };
        if status_of(&ng) != "DELETING" {
            gone(self.client.delete_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await.map(|_| ()).eks("DeleteNodegroup"))?;
        }
        let result = self.client.wait_until_nodegroup_deleted().cluster_name(cluster).nodegroup_name(name).wait(minutes(DEFAULT_WAIT_MINUTES)).await;
        match waited("DescribeNodegroup", result)? {
            Waited::Reached => Ok(()),
            Waited::TimedOut => Err(still_deleting(&format!("aws.eks.nodegroup {id}"), "DELETING")),
            Waited::Failed(out) => {
                let (status, why) = out.nodegroup().map(|ng| (status_of(ng).to_string(), health_of(ng))).unwrap_or_default();
                Err(ProviderError::Fatal(format!("aws.eks.nodegroup {id} is {status}{why}")))
            }
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let cluster = required_string(&SCHEMA, desired, "cluster_name")?;
        let name = desired.name();
        let Some(found) = self.read(&node_group_id(&cluster, &name)).await?.filter(|o| desired.owner.matches(&o.tags)) else { return Ok(None) };
        // A run that died during the long wait after CreateNodegroup left it CREATING: finish that wait.
        if self.describe(&cluster, &name).await?.and_then(|n| n.status().map(|s| s.as_str() == "CREATING")).unwrap_or(false) {
            self.wait_active(&cluster, &name, wait_minutes(desired)?).await?;
            return self.read(&node_group_id(&cluster, &name)).await;
        }
        Ok(Some(found))
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
