//! The lifecycle of the quickstart stack through the real binary: apply, no-op re-plan, update, replace, drift, destroy.

use crate::harness::{runtime, Workspace};
use crate::verify::{assert_owned, Aws};

fn action_of<'a>(plan: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    plan["actions"].as_array().and_then(|a| a.iter().find(|x| x["address"] == address)).unwrap_or_else(|| panic!("no action for {address} in plan: {plan}"))
}

#[test]
fn apply_creates_every_resource_with_tags_and_settings_then_replans_clean() {
    let ws = Workspace::quickstart();
    let (s, e) = (ws.stack_name.clone(), ws.env.clone());
    ws.apply();
    runtime().block_on(async {
        let aws = Aws::new().await;

        let url = aws.queue_url(&format!("{s}-{e}-orders")).await.expect("orders queue exists");
        let attrs = aws.queue_attrs(&url).await;
        assert_eq!(attrs["VisibilityTimeout"], "30");
        assert_eq!(attrs["MessageRetentionPeriod"], "345600");
        assert!(attrs["RedrivePolicy"].contains(&format!("{s}-{e}-orders-dlq")), "redrive points at the DLQ: {}", attrs["RedrivePolicy"]);
        assert!(attrs.get("KmsMasterKeyId").is_some_and(|k| k.contains(":key/")), "orders queue encrypted with the stack's key: {attrs:?}");
        assert_owned(&aws.queue_tags(&url).await, &s, &e, "orders");

        let dlq = aws.queue_url(&format!("{s}-{e}-orders-dlq")).await.expect("DLQ exists");
        assert_eq!(aws.queue_attrs(&dlq).await["MessageRetentionPeriod"], "1209600");

        let bucket = format!("{s}-{e}-artifacts");
        assert!(aws.bucket_exists(&bucket).await);
        let tags = aws.bucket_tags(&bucket).await;
        assert_owned(&tags, &s, &e, "artifacts");
        assert_eq!(tags.get("Component").map(String::as_str), Some("storage"));
        // Versioning, checked by its effect (moto's GetBucketVersioning answer does not parse).
        for body in ["one", "two"] {
            aws.s3.put_object().bucket(&bucket).key("probe").body(body.as_bytes().to_vec().into()).send().await.expect("PutObject");
        }
        let versions = aws.s3.list_object_versions().bucket(&bucket).prefix("probe").send().await.expect("ListObjectVersions");
        assert_eq!(versions.versions().len(), 2, "two versions of one key");
        let enc = aws.s3.get_bucket_encryption().bucket(&bucket).send().await.expect("GetBucketEncryption");
        let rule = &enc.server_side_encryption_configuration().expect("SSE configuration").rules()[0];
        let default = rule.apply_server_side_encryption_by_default().expect("default encryption");
        assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
        let pab = aws.s3.get_public_access_block().bucket(&bucket).send().await.expect("GetPublicAccessBlock");
        let pab = pab.public_access_block_configuration().expect("public access block");
        assert_eq!((pab.block_public_acls(), pab.restrict_public_buckets()), (Some(true), Some(true)));

        let (key_id, usable) = aws.key_by_alias(&format!("alias/{s}-{e}-data")).await.expect("key alias exists");
        assert!(usable);
        let rotation = aws.kms.get_key_rotation_status().key_id(&key_id).send().await.expect("GetKeyRotationStatus");
        assert!(rotation.key_rotation_enabled());
        let ktags = aws.kms.list_resource_tags().key_id(&key_id).send().await.expect("ListResourceTags");
        let ktags = ktags.tags().iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string())).collect();
        assert_owned(&ktags, &s, &e, "data_key");

        let topic = format!("arn:aws:sns:us-east-1:{}:{s}-{e}-events", account_of(&url));
        assert!(aws.topic_exists(&topic).await, "topic {topic}");
        let subs = aws.sns.list_subscriptions_by_topic().topic_arn(&topic).send().await.expect("ListSubscriptionsByTopic");
        let sub = subs.subscriptions().iter().find(|x| x.protocol() == Some("sqs")).expect("an SQS subscription on the topic");
        let sub_attrs =
            aws.sns.get_subscription_attributes().subscription_arn(sub.subscription_arn().unwrap_or_default()).send().await.expect("GetSubscriptionAttributes");
        assert_eq!(sub_attrs.attributes().and_then(|a| a.get("RawMessageDelivery")).map(String::as_str), Some("true"));

        let role = format!("{s}-{e}-worker-role");
        assert!(aws.role_exists(&role).await, "role {role}");
        let inline = aws.iam.list_role_policies().role_name(&role).send().await.expect("ListRolePolicies");
        assert_eq!(inline.policy_names(), ["consume-orders"]);
    });

    let outputs = ws.cairn(&["output", "--json"]);
    outputs.assert_code(0);
    assert!(outputs.stdout.contains(&format!("{s}-{e}-orders")), "outputs: {}", outputs.stdout);

    // Nothing changed, so a detailed plan exits 0 and reports no changes.
    let r = ws.cairn(&["plan", "--detailed-exitcode"]);
    r.assert_code(0);
    assert!(r.stdout.contains("No changes"), "{}", r.stdout);
}

/// The queue URL carries the account id; the emulator decides it (moto and LocalStack differ).
fn account_of(queue_url: &str) -> String {
    queue_url.rsplit('/').nth(1).unwrap_or_default().to_string()
}

#[test]
fn changing_a_var_updates_in_place() {
    let ws = Workspace::quickstart();
    ws.apply();
    let r = ws.cairn(&["plan", "--detailed-exitcode", "--var", "visibility_timeout=90"]);
    r.assert_code(2);
    assert!(r.stdout.contains("~ visibility_timeout_seconds") && r.stdout.contains("30 -> 90"), "{}", r.stdout);
    assert!(r.stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "{}", r.stdout);
    let plan = ws.plan_json(&["--var", "visibility_timeout=90"]);
    assert_eq!(action_of(&plan, "orders")["action"], "update");
    let before = runtime().block_on(async { Aws::new().await.queue_url(&format!("{}-{}-orders", ws.stack_name, ws.env)).await });
    ws.cairn(&["apply", "--auto-approve", "--var", "visibility_timeout=90"]).assert_code(0);
    runtime().block_on(async {
        let aws = Aws::new().await;
        let url = aws.queue_url(&format!("{}-{}-orders", ws.stack_name, ws.env)).await.expect("queue still exists");
        assert_eq!(Some(url.clone()), before, "updated in place, not replaced");
        assert_eq!(aws.queue_attrs(&url).await["VisibilityTimeout"], "90");
    });
    ws.cairn(&["plan", "--detailed-exitcode", "--var", "visibility_timeout=90"]).assert_code(0);
}

#[test]
fn changing_an_immutable_property_replaces_and_updates_dependents() {
    let ws = Workspace::quickstart();
    ws.apply();
    let (s, e) = (ws.stack_name.clone(), ws.env.clone());
    // A queue's name cannot change in place.
    ws.edit(|t| {
        t.replacen("      message_retention_seconds: 1209600\n", "      name: ${stack}-${env}-dead-letters\n      message_retention_seconds: 1209600\n", 1)
    });
    let plan = ws.plan_json(&[]);
    let dlq = action_of(&plan, "orders_dlq");
    assert_eq!(dlq["action"], "replace");
    assert!(dlq["reasons"].to_string().contains("`name` forces replacement"), "{dlq}");
    assert_eq!(action_of(&plan, "orders")["action"], "update", "the redrive policy follows the new DLQ ARN");
    let text = ws.cairn(&["plan"]);
    assert!(text.stdout.contains("orders_dlq must be replaced") && text.stdout.contains("# forces replacement"), "{}", text.stdout);
    ws.apply();
    runtime().block_on(async {
        let aws = Aws::new().await;
        assert!(aws.queue_url(&format!("{s}-{e}-orders-dlq")).await.is_none(), "old DLQ deleted");
        assert!(aws.queue_url(&format!("{s}-{e}-dead-letters")).await.is_some(), "new DLQ created");
        let url = aws.queue_url(&format!("{s}-{e}-orders")).await.expect("orders queue");
        assert!(aws.queue_attrs(&url).await["RedrivePolicy"].contains("dead-letters"));
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);
}

#[test]
fn drift_made_out_of_band_is_reported_and_fixed() {
    let ws = Workspace::quickstart();
    ws.apply();
    let name = format!("{}-{}-orders-dlq", ws.stack_name, ws.env);
    runtime().block_on(async {
        let aws = Aws::new().await;
        let url = aws.queue_url(&name).await.expect("DLQ");
        aws.sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::DelaySeconds, "7")
            .send()
            .await
            .expect("SetQueueAttributes");
        aws.sqs.tag_queue().queue_url(&url).tags("Owner", "someone-else").send().await.expect("TagQueue");
    });
    let plan = ws.plan_json(&[]);
    let drift = plan["drift"].as_array().expect("drift list");
    let d = drift.iter().find(|d| d["address"] == "orders_dlq").unwrap_or_else(|| panic!("drift on orders_dlq: {plan}"));
    assert!(d["changes"].to_string().contains("delay_seconds"), "{d}");
    assert_eq!(action_of(&plan, "orders_dlq")["action"], "update");
    let text = ws.cairn(&["plan", "--detailed-exitcode"]);
    text.assert_code(2);
    assert!(text.stdout.contains("Objects have changed outside of cairn"), "{}", text.stdout);
    ws.apply();
    runtime().block_on(async {
        let aws = Aws::new().await;
        let url = aws.queue_url(&name).await.expect("DLQ");
        assert_eq!(aws.queue_attrs(&url).await["DelaySeconds"], "0");
        assert_eq!(aws.queue_tags(&url).await.get("Owner").map(String::as_str), Some("platform-team"));
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);
}

#[test]
fn resource_deleted_out_of_band_is_recreated() {
    let ws = Workspace::quickstart();
    ws.apply();
    let name = format!("{}-{}-orders-dlq", ws.stack_name, ws.env);
    runtime().block_on(async {
        let aws = Aws::new().await;
        let url = aws.queue_url(&name).await.expect("DLQ");
        aws.sqs.delete_queue().queue_url(&url).send().await.expect("DeleteQueue");
    });
    let plan = ws.plan_json(&[]);
    assert_eq!(action_of(&plan, "orders_dlq")["action"], "create");
    assert!(plan["drift"].to_string().contains("\"deleted\":true"), "{}", plan["drift"]);
    ws.apply();
    assert!(runtime().block_on(async { Aws::new().await.queue_url(&name).await }).is_some());
}

#[test]
fn destroy_removes_everything_in_reverse_order() {
    let ws = Workspace::quickstart();
    ws.apply();
    let (s, e) = (ws.stack_name.clone(), ws.env.clone());
    let key = runtime().block_on(async { Aws::new().await.key_by_alias(&format!("alias/{s}-{e}-data")).await }).expect("key").0;
    let r = ws.cairn(&["destroy", "--auto-approve"]);
    r.assert_code(0);
    // The key outlives everything encrypted with it.
    let key_pos = r.stdout.find("data_key: Destroying").expect("key destroyed");
    let queue_pos = r.stdout.find("orders: Destroying").expect("queue destroyed");
    assert!(queue_pos < key_pos, "orders deleted before the key it uses:\n{}", r.stdout);
    runtime().block_on(async {
        let aws = Aws::new().await;
        assert!(aws.queue_url(&format!("{s}-{e}-orders")).await.is_none());
        assert!(aws.queue_url(&format!("{s}-{e}-orders-dlq")).await.is_none());
        assert!(!aws.bucket_exists(&format!("{s}-{e}-artifacts")).await);
        assert!(!aws.role_exists(&format!("{s}-{e}-worker-role")).await);
        assert_eq!(aws.key_state(&key).await, "PendingDeletion");
    });
    let list = ws.cairn(&["state", "list"]);
    list.assert_code(0);
    assert!(list.stdout.trim().is_empty(), "state is empty: {}", list.stdout);
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(2);
}

#[test]
fn saved_plan_applies_exactly_once_and_stale_plans_are_refused() {
    let ws = Workspace::quickstart();
    let plan_file = ws.dir.path().join("tfplan.json");
    let p = plan_file.display().to_string();
    ws.cairn(&["plan", "--out", &p, "--detailed-exitcode"]).assert_code(2);
    ws.cairn_raw(&["apply", &p]).assert_code(0);
    let again = ws.cairn_raw(&["apply", &p]);
    again.assert_code(1);
    assert!(again.stderr.contains("state changed since this plan was made"), "{}", again.stderr);
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);
    let history = ws.cairn(&["state", "history"]);
    assert!(history.stdout.contains("apply"), "{}", history.stdout);
}

#[test]
fn import_adopts_an_existing_queue() {
    let name = crate::harness::unique("imp");
    let stack = format!(
        "stack: {name}\ntags: {{ Project: LegacyPlatform, Owner: platform-team }}\nresources:\n  jobs:\n    type: aws.sqs.queue\n    props: {{ name: {name}-jobs, visibility_timeout_seconds: 45 }}\n"
    );
    let ws = Workspace::with_stack(&stack, &name, "dev");
    let url = runtime().block_on(async {
        let aws = Aws::new().await;
        aws.sqs.create_queue().queue_name(format!("{name}-jobs")).send().await.expect("CreateQueue").queue_url().unwrap_or_default().to_string()
    });
    ws.cairn(&["import", "jobs", &url]).assert_code(0);
    ws.cairn(&["import", "jobs", &url]).assert_code(1);
    let plan = ws.plan_json(&[]);
    let jobs = action_of(&plan, "jobs");
    assert_eq!(jobs["action"], "update", "adopted, not created: {jobs}");
    assert!(jobs["changes"].to_string().contains("visibility_timeout_seconds"));
    ws.apply();
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);
}
