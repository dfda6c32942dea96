//! Turns mapped resources into the stack file a person would write: names, `for_each`/`count`, references, lifted tags, no defaults.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{Input, Mapped, TfInstance};
use crate::provider::{SchemaSource, Tags};

mod body;
mod naming;
mod refs;
mod tags;
mod yaml;

use body::{expressible, ordered_props, shared_body};
pub use naming::sanitize;
use naming::{group_names, initial_shape, instance_address, separate_name, tf_comment};
use refs::{reference_targets, rename_refs, substitute};
use tags::{effective, lifted_tags};
use yaml::{emit_props, emit_tags, key, scalar};

/// What the stack is called and where it runs.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub stack: String,
    pub env: String,
    pub region: String,
    /// Written as the environment's `account_id` (apply then refuses another account).
    pub account_id: Option<String>,
    /// Where the resources came from, for the file's header comment.
    pub source: String,
}

/// One cairn resource instance and the Terraform resources it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The cairn address as state records it (`subnet["a"]`).
    pub address: String,
    pub kind: String,
    pub id: String,
    pub tf: Vec<String>,
    pub notes: Vec<String>,
}

/// The written stack and its mapping table.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub yaml: String,
    pub rows: Vec<Row>,
    /// Tags lifted to the stack's `tags`.
    pub stack_tags: Tags,
}

/// How the instances of one Terraform resource (one `count`/`for_each` block) are written.
enum Shape {
    Single,
    Count(usize),
    ForEach,
    /// Instances that differ where cairn cannot express the difference: one resource each.
    Separate,
}

/// A Terraform resource block: (module path, type, name).
type BlockKey = (String, String, String);
/// A mapped resource and the Terraform instance that names it.
type Member<'a> = (&'a Mapped, Option<&'a TfInstance>);
/// One instance as written: address, props, tags.
type Body = (String, Map<String, Value>, Tags);

struct Group<'a> {
    name: String,
    members: Vec<Member<'a>>,
    shape: Shape,
}

/// Writes the stack. `schemas` gives each kind's property order and defaults.
pub fn write(input: &Input, mapped: &[Mapped], schemas: &dyn SchemaSource, opts: &WriteOptions) -> Written {
    let by_address: BTreeMap<&str, &TfInstance> = input.instances.iter().map(|i| (i.address.as_str(), i)).collect();

    // 1. Groups: the instances of one Terraform resource block, in the order they were mapped.
    let mut order: Vec<BlockKey> = vec![];
    let mut groups: BTreeMap<BlockKey, Vec<Member>> = BTreeMap::new();
    for m in mapped {
        let tf = m.sources.first().and_then(|a| by_address.get(a.as_str()).copied());
        let key = match tf {
            Some(t) => (t.module.clone(), t.ty.clone(), t.name.clone()),
            None => (String::new(), m.kind.clone(), m.sources.first().cloned().unwrap_or_default()),
        };
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push((m, tf));
    }
    let names = group_names(&order, &groups);

    // 2. Instance addresses (before shapes are known, references name instances as Terraform does).
    let mut groups: Vec<Group> = order
        .iter()
        .map(|k| {
            let mut members = groups.remove(k).unwrap_or_default();
            members.sort_by(|a, b| a.1.and_then(|t| t.index.clone()).cmp(&b.1.and_then(|t| t.index.clone())));
            Group { name: names[k].clone(), members, shape: Shape::Single }
        })
        .collect();
    for g in &mut groups {
        g.shape = initial_shape(g);
    }

    // 3. Tags every taggable resource shares (and provider default_tags) go to the stack.
    let taggable = |m: &Mapped| schemas.schema_of(&m.kind).is_some_and(|s| s.taggable);
    let all: Vec<&Mapped> = mapped.iter().filter(|m| taggable(m)).collect();
    let stack_tags = lifted_tags(&all);

    // 4. Props and tags per instance, with references, then shapes settled by what differs.
    let targets = reference_targets(&groups);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bodies: Vec<Vec<Body>> = vec![];
    for g in &groups {
        let mut body = vec![];
        for (i, (m, tf)) in g.members.iter().enumerate() {
            let address = instance_address(g, i, *tf);
            let schema = schemas.schema_of(&m.kind);
            let mut props = ordered_props(m, schema);
            substitute(&mut props, &address, &targets, &mut deps);
            let mut tags = effective(m);
            tags.retain(|k, v| !(stack_tags.get(k) == Some(v) || k.starts_with("aws:") || (k == "Env" && *v == opts.env)));
            if !taggable(m) {
                tags.clear();
            }
            body.push((address, props, tags));
        }
        bodies.push(body);
    }
    for (g, body) in groups.iter_mut().zip(&bodies) {
        if matches!(g.shape, Shape::ForEach | Shape::Count(_)) && !expressible(&g.shape, body) {
            g.shape = Shape::Separate;
        }
    }
    // Separate instances get names of their own; references to them are rewritten.
    let renames: BTreeMap<String, String> = groups
        .iter()
        .zip(&bodies)
        .filter(|(g, _)| matches!(g.shape, Shape::Separate))
        .flat_map(|(g, body)| body.iter().enumerate().map(move |(i, (address, _, _))| (address.clone(), separate_name(g, i))).collect::<Vec<_>>())
        .collect();

    // 5. Text.
    let mut y = String::new();
    y.push_str(&format!("# Imported from {} by `cairn import terraform`.\n", opts.source));
    y.push_str("# Each resource names the Terraform resources it replaces; review with `cairn plan` before applying.\n");
    y.push_str(&format!("stack: {}\nregion: {}\n\n", scalar(&Value::String(opts.stack.clone()), false), scalar(&Value::String(opts.region.clone()), false)));
    y.push_str("environments:\n");
    match &opts.account_id {
        Some(a) => y.push_str(&format!("  {}:\n    account_id: \"{a}\"\n", key(&opts.env))),
        None => y.push_str(&format!("  {}: {{}}\n", key(&opts.env))),
    }
    if !stack_tags.is_empty() {
        y.push_str("\ntags:\n");
        for (k, v) in &stack_tags {
            y.push_str(&format!("  {}: {}\n", key(k), scalar(&Value::String(v.clone()), false)));
        }
    }
    y.push_str("\nresources:\n");
    let mut rows = vec![];
    for (g, body) in groups.iter().zip(&bodies) {
        let rename = |v: &mut Value| rename_refs(v, &renames);
        match g.shape {
            Shape::Single | Shape::Count(_) | Shape::ForEach => {
                let (m0, _) = g.members[0];
                y.push('\n');
                y.push_str(&format!("  # {}\n", tf_comment(g)));
                y.push_str(&format!("  {}:\n    type: {}\n", g.name, m0.kind));
                let (props, tags) = shared_body(g, body, &mut y);
                let mut props = Value::Object(props);
                rename(&mut props);
                emit_tags(&mut y, &tags);
                emit_props(&mut y, &props, schemas.schema_of(&m0.kind));
                for ((m, _), (address, _, _)) in g.members.iter().zip(body) {
                    rows.push(Row { address: address.clone(), kind: m.kind.clone(), id: m.id.clone(), tf: m.sources.clone(), notes: m.notes.clone() });
                }
            }
            Shape::Separate => {
                for (i, ((m, _), (_, props, tags))) in g.members.iter().zip(body).enumerate() {
                    let name = separate_name(g, i);
                    let mut props = Value::Object(props.clone());
                    rename(&mut props);
                    y.push('\n');
                    y.push_str(&format!("  # {}\n", m.sources.join(" + ")));
                    y.push_str(&format!("  {name}:\n    type: {}\n", m.kind));
                    emit_tags(&mut y, tags);
                    emit_props(&mut y, &props, schemas.schema_of(&m.kind));
                    rows.push(Row { address: name, kind: m.kind.clone(), id: m.id.clone(), tf: m.sources.clone(), notes: m.notes.clone() });
                }
            }
        }
    }
    Written { yaml: y, rows, stack_tags }
}

#[cfg(test)]
mod tests {
    use super::super::testing::input;
    use super::naming::module_parts;
    use super::yaml::flow;
    use super::*;
    use crate::provider::{PropSpec, PropType, ResourceSchema};
    use serde_json::json;

    static NET: ResourceSchema = ResourceSchema {
        kind: "aws.ec2.vpc",
        doc: "",
        props: &[PropSpec::new("cidr_block", PropType::String, ""), PropSpec::new("enable_dns_support", PropType::Bool, "").default("true")],
        attrs: &["arn"],
        taggable: true,
        rules: &[],
    };
    static SUBNET: ResourceSchema = ResourceSchema {
        kind: "aws.ec2.subnet",
        doc: "",
        props: &[
            PropSpec::new("vpc_id", PropType::String, ""),
            PropSpec::new("cidr_block", PropType::String, ""),
            PropSpec::new("availability_zone", PropType::String, ""),
            PropSpec::new("map_public_ip_on_launch", PropType::Bool, "").default("false"),
        ],
        attrs: &["arn"],
        taggable: true,
        rules: &[],
    };
    static SUB: ResourceSchema = ResourceSchema {
        kind: "aws.sns.subscription",
        doc: "",
        props: &[PropSpec::new("topic", PropType::String, ""), PropSpec::new("endpoint", PropType::String, "")],
        attrs: &["arn"],
        taggable: false,
        rules: &[],
    };
    struct Schemas;
    impl SchemaSource for Schemas {
        fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema> {
            [&NET, &SUBNET, &SUB].into_iter().find(|s| s.kind == kind)
        }
        fn all_schemas(&self) -> Vec<&'static ResourceSchema> {
            vec![&NET, &SUBNET, &SUB]
        }
    }

    fn opts() -> WriteOptions {
        WriteOptions {
            stack: "legacy".into(),
            env: "prod".into(),
            region: "us-east-1".into(),
            account_id: Some("123456789012".into()),
            source: "terraform.tfstate".into(),
        }
    }

    fn mapped(input: &Input, kind: &str, id: &str, i: usize, props: Value) -> Mapped {
        let mut m = Mapped::new(&input.instances[i], kind, id);
        m.props = props.as_object().cloned().unwrap();
        m.attr("arn", Some(&format!("arn:aws:ec2:us-east-1:123456789012:thing/{id}")));
        m
    }

    #[test]
    fn modules_for_each_references_tags_and_defaults() {
        let tags = |name: &str| json!({"Name": name, "Project": "shop", "Team": "net"});
        let tags_all = |name: &str| json!({"Name": name, "Project": "shop", "Team": "net", "ManagedBy": "terraform"});
        let input = input(json!([
            {"module": "module.network", "type": "aws_vpc", "name": "this", "attributes": {"tags": tags("main"), "tags_all": tags_all("main")}},
            {"module": "module.network", "type": "aws_subnet", "name": "private", "index": "a", "attributes": {"tags": tags("private-a"), "tags_all": tags_all("private-a")}},
            {"module": "module.network", "type": "aws_subnet", "name": "private", "index": "b", "attributes": {"tags": tags("private-b"), "tags_all": tags_all("private-b")}},
            {"type": "aws_sns_topic_subscription", "name": "s", "attributes": {}}
        ]));
        let ms = vec![
            mapped(&input, "aws.ec2.vpc", "vpc-0123456789", 0, json!({"cidr_block": "10.0.0.0/16", "enable_dns_support": true})),
            mapped(
                &input,
                "aws.ec2.subnet",
                "subnet-aaaaaaaa",
                1,
                json!({"vpc_id": "vpc-0123456789", "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": false}),
            ),
            mapped(
                &input,
                "aws.ec2.subnet",
                "subnet-bbbbbbbb",
                2,
                json!({"vpc_id": "vpc-0123456789", "cidr_block": "10.0.2.0/24", "availability_zone": "us-east-1b", "map_public_ip_on_launch": false}),
            ),
            mapped(
                &input,
                "aws.sns.subscription",
                "sub-1",
                3,
                json!({"topic": "arn:aws:ec2:us-east-1:123456789012:thing/vpc-0123456789", "endpoint": "arn:aws:sqs:us-east-1:123456789012:elsewhere"}),
            ),
        ];
        let w = write(&input, &ms, &Schemas, &opts());
        insta::assert_snapshot!(w.yaml);
        let addrs: Vec<&str> = w.rows.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addrs, ["network_this", "network_private[\"a\"]", "network_private[\"b\"]", "s"]);
        assert_eq!(w.stack_tags, Tags::from([("ManagedBy".into(), "terraform".into()), ("Project".into(), "shop".into()), ("Team".into(), "net".into())]));
        // The text reads back as YAML with the same structure.
        let root = crate::yaml::parse(&w.yaml).expect("valid YAML");
        assert!(root.get("resources").and_then(|r| r.get("network_private")).is_some());
    }

    #[test]
    fn count_with_equal_instances_and_separate_when_they_differ() {
        let input = input(json!([
            {"type": "aws_vpc", "name": "same", "index": 0, "attributes": {}},
            {"type": "aws_vpc", "name": "same", "index": 1, "attributes": {}},
            {"type": "aws_vpc", "name": "diff", "index": 0, "attributes": {}},
            {"type": "aws_vpc", "name": "diff", "index": 1, "attributes": {}},
            {"type": "aws_subnet", "name": "s", "attributes": {}}
        ]));
        let ms = vec![
            mapped(&input, "aws.ec2.vpc", "vpc-00000001", 0, json!({"cidr_block": "10.0.0.0/16"})),
            mapped(&input, "aws.ec2.vpc", "vpc-00000002", 1, json!({"cidr_block": "10.0.0.0/16"})),
            mapped(&input, "aws.ec2.vpc", "vpc-00000003", 2, json!({"cidr_block": "10.1.0.0/16"})),
            mapped(&input, "aws.ec2.vpc", "vpc-00000004", 3, json!({"cidr_block": "10.2.0.0/16"})),
            mapped(&input, "aws.ec2.subnet", "subnet-1", 4, json!({"vpc_id": "vpc-00000004"})),
        ];
        let w = write(&input, &ms, &Schemas, &opts());
        let addrs: Vec<&str> = w.rows.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addrs, ["same[0]", "same[1]", "diff_0", "diff_1", "s"]);
        assert!(w.yaml.contains("    count: 2\n"), "{}", w.yaml);
        assert!(w.yaml.contains("vpc_id: ${diff_1.id}"), "{}", w.yaml);
    }

    #[test]
    fn references_never_close_a_cycle_and_arn_prefixes_become_templates() {
        let input = input(json!([
            {"type": "aws_sns_topic_subscription", "name": "a", "attributes": {}},
            {"type": "aws_sns_topic_subscription", "name": "b", "attributes": {}}
        ]));
        let a_arn = "arn:aws:ec2:us-east-1:123456789012:thing/sub-aaaa";
        let b_arn = "arn:aws:ec2:us-east-1:123456789012:thing/sub-bbbb";
        let ms = vec![
            mapped(&input, "aws.sns.subscription", "sub-aaaa", 0, json!({"topic": b_arn, "endpoint": format!("{a_arn}/self")})),
            mapped(&input, "aws.sns.subscription", "sub-bbbb", 1, json!({"topic": a_arn, "endpoint": format!("{a_arn}/x/*")})),
        ];
        let w = write(&input, &ms, &Schemas, &opts());
        assert!(w.yaml.contains("topic: ${b.arn}"), "{}", w.yaml);
        // b → a would close a cycle: the literal stays.
        assert!(w.yaml.contains(&format!("topic: {a_arn}")), "{}", w.yaml);
        assert!(w.yaml.contains(&format!("endpoint: {a_arn}/x/*")), "{}", w.yaml);
    }

    #[test]
    fn default_tags_lift_even_alone_and_env_equal_to_the_environment_is_implied() {
        let input = input(json!([
            {"type": "aws_vpc", "name": "main", "attributes": {"tags": {"Team": "net", "Env": "prod"}, "tags_all": {"Team": "net", "Env": "prod", "Project": "shop"}}},
            {"type": "aws_vpc", "name": "old", "attributes": {"tags": {"Env": "legacy"}, "tags_all": {"Env": "legacy", "Project": "shop"}}}
        ]));
        let ms = vec![mapped(&input, "aws.ec2.vpc", "vpc-1", 0, json!({})), mapped(&input, "aws.ec2.vpc", "vpc-2", 1, json!({}))];
        let w = write(&input, &ms, &Schemas, &opts());
        assert_eq!(w.stack_tags, Tags::from([("Project".into(), "shop".into())]));
        // `Env: prod` comes from --env; another value stays on the resource, which overrides it.
        assert!(w.yaml.contains("  main:\n    type: aws.ec2.vpc\n    tags:\n      Team: net\n"), "{}", w.yaml);
        assert!(w.yaml.contains("  old:\n    type: aws.ec2.vpc\n    tags:\n      Env: legacy\n"), "{}", w.yaml);

        let one = super::super::testing::input(
            json!([{"type": "aws_vpc", "name": "main", "attributes": {"tags": {"Team": "net"}, "tags_all": {"Team": "net", "Project": "shop"}}}]),
        );
        let w = write(&one, &[mapped(&one, "aws.ec2.vpc", "vpc-1", 0, json!({}))], &Schemas, &opts());
        assert_eq!(w.stack_tags, Tags::from([("Project".into(), "shop".into())]));
    }

    #[test]
    fn names_from_modules_and_collisions() {
        assert_eq!(module_parts("module.app[\"x\"].module.db"), ["app", "x", "db"]);
        assert_eq!(module_parts("module.network"), ["network"]);
        assert_eq!(sanitize("9lives.x"), "_9lives_x");
        let input = input(json!([
            {"type": "aws_vpc", "name": "main", "attributes": {}},
            {"type": "aws_subnet", "name": "main", "attributes": {}}
        ]));
        let ms = vec![mapped(&input, "aws.ec2.vpc", "vpc-1", 0, json!({})), mapped(&input, "aws.ec2.subnet", "subnet-1", 1, json!({}))];
        let w = write(&input, &ms, &Schemas, &opts());
        let addrs: Vec<&str> = w.rows.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addrs, ["main_vpc", "main_subnet"]);
    }

    #[test]
    fn quoting_keeps_strings_strings() {
        for s in ["true", "1.30", "", "a: b", "${x.id}", "${x.arn}/*", "${s[\"a\"].id}", "-x", "10.0.0.0/16", "arn:aws:s3:::b", "*", "#x"] {
            let text = format!("k: {}\nl: {}\n", scalar(&json!(s), false), flow(&json!([s, s])));
            let root = crate::yaml::parse(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(root.get("k").and_then(|n| n.as_str()), Some(s), "{text}");
        }
    }
}
