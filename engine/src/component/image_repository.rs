//! `cairn.image_repository`: an ECR repository with the settings teams run in production: immutable tags, scan on push, a lifecycle policy that expires untagged layers and keeps the newest tagged images.

use serde_json::{json, Value};

use super::{Component, ComponentInput, Expansion, Part};
use crate::provider::{PropSpec, PropType};

pub struct ImageRepository;

static PROPS: &[PropSpec] = &[
    PropSpec::new("name", PropType::String, "Repository name; defaults to <stack>-<env>-<name>."),
    PropSpec::new("kms_key", PropType::String, "KMS key ARN to encrypt images with; without it, ECR's AES256."),
    PropSpec::new("immutable_tags", PropType::Bool, "Refuse to move a pushed tag to another image (a deployed tag always means the same image).")
        .default("true"),
    PropSpec::new("scan_on_push", PropType::Bool, "Scan every image for vulnerabilities when it is pushed.").default("true"),
    PropSpec::new("untagged_expire_days", PropType::IntRange(0, 3650), "Expire untagged images this many days after their push (0: never).").default("7"),
    PropSpec::new("keep_tagged_images", PropType::IntRange(0, 10000), "Keep only the newest this many images (0: keep all).").default("30"),
    PropSpec::new("force_delete", PropType::Bool, "Let destroy delete the repository's images.").default("false"),
];

impl Component for ImageRepository {
    fn kind(&self) -> &'static str {
        "cairn.image_repository"
    }
    fn doc(&self) -> &'static str {
        "ECR repository: immutable tags, scan on push, optional KMS, untagged images expire and only the newest images are kept."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["arn", "name", "repository_url"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let name = input.get("name").cloned().unwrap_or_else(|| Value::String(input.name_prefix.clone()));
        let mut props = json!({
            "name": name,
            "image_tag_mutability": if input.bool_or("immutable_tags", true)? { "IMMUTABLE" } else { "MUTABLE" },
            "image_scanning_configuration": { "scan_on_push": input.bool_or("scan_on_push", true)? },
            "force_delete": input.bool_or("force_delete", false)?,
        });
        if let Some(key) = input.get("kms_key") {
            props["encryption_configuration"] = json!({ "encryption_type": "KMS", "kms_key": key });
        }
        let rules = lifecycle_rules(count(input, "untagged_expire_days", 7)?, count(input, "keep_tagged_images", 30)?);
        if !rules.is_empty() {
            props["lifecycle_policy"] = json!({ "rules": rules });
        }
        let mut out = Expansion { parts: vec![Part::new("repository", "aws.ecr.repository", props)], ..Default::default() };
        for attr in self.outputs() {
            out.outputs.insert((*attr).into(), input.reference("repository", attr));
        }
        Ok(out)
    }
}

/// A count input; a value known only after apply cannot shape the policy, so it is refused.
fn count(input: &ComponentInput, name: &str, default: i64) -> Result<i64, String> {
    let n = input.int_or(name, default)?;
    if n < 0 {
        return Err(format!("`{name}` must be 0 or more, found {n}"));
    }
    Ok(n)
}

/// ECR evaluates rules by priority and an image is expired by the first rule that selects it,
/// so the untagged rule comes first: otherwise the count rule would spend its budget on layers
/// nobody can pull by tag.
fn lifecycle_rules(untagged_days: i64, keep: i64) -> Vec<Value> {
    let mut rules = vec![];
    if untagged_days > 0 {
        rules.push(json!({
            "rulePriority": 1,
            "description": format!("expire untagged images after {untagged_days} days"),
            "selection": { "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": untagged_days },
            "action": { "type": "expire" },
        }));
    }
    if keep > 0 {
        rules.push(json!({
            "rulePriority": 2,
            "description": format!("keep the newest {keep} images"),
            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep },
            "action": { "type": "expire" },
        }));
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_expiry_comes_before_the_count_and_zero_turns_a_rule_off() {
        let both = lifecycle_rules(7, 30);
        assert_eq!(both.len(), 2);
        assert_eq!(both[0]["selection"]["tagStatus"], "untagged");
        assert_eq!(both[1]["selection"]["countNumber"], 30);
        // `tagStatus: any` must have the lowest priority: ECR refuses a policy where it does not.
        assert!(both[1]["rulePriority"].as_i64() > both[0]["rulePriority"].as_i64());
        assert_eq!(lifecycle_rules(0, 30).len(), 1);
        assert!(lifecycle_rules(0, 0).is_empty());
    }

    #[test]
    fn defaults_give_an_immutable_scanned_repository_with_both_rules() {
        let mut props = crate::provider::Props::new();
        props.insert("kms_key".into(), json!("arn:aws:kms:us-east-1:111122223333:key/k"));
        let input = ComponentInput { address: "images", props: &props, stack: "shop", env: "dev", region: "us-east-1", name_prefix: "shop-dev-images".into() };
        let out = ImageRepository.expand(&input).unwrap();
        let repo = &out.parts[0];
        assert_eq!((repo.sub.as_str(), repo.kind), ("repository", "aws.ecr.repository"));
        assert_eq!(repo.props["name"], "shop-dev-images");
        assert_eq!(repo.props["image_tag_mutability"], "IMMUTABLE");
        assert_eq!(repo.props["image_scanning_configuration"], json!({ "scan_on_push": true }));
        assert_eq!(repo.props["encryption_configuration"]["encryption_type"], "KMS");
        assert_eq!(repo.props["lifecycle_policy"]["rules"].as_array().map(Vec::len), Some(2));
        assert!(out.outputs.contains_key("repository_url"));

        props.insert("keep_tagged_images".into(), json!(-1));
        let input = ComponentInput { address: "images", props: &props, stack: "shop", env: "dev", region: "us-east-1", name_prefix: "shop-dev-images".into() };
        assert!(ImageRepository.expand(&input).unwrap_err().contains("keep_tagged_images"));
    }
}
