//! Refresh of 1,000 network resources through the EC2 kinds' batched `read_many`, against
//! mocked EC2 answers paginated 200 per page: counts the API calls and times the reads.
//!
//!   cargo bench -p cairn-resources --bench refresh_1000

use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput;
use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::describe_vpc_attribute::DescribeVpcAttributeOutput;
use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, InternetGateway, InternetGatewayAttachment, IpPermission, IpRange, Route, RouteOrigin, RouteTable, RouteTableAssociation,
    SecurityGroup, Subnet, Tag, UserIdGroupPair, Vpc, VpcAttributeName,
};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use cairn_engine::provider::ResourceKind;
use cairn_resources::ec2_internet_gateway::Ec2InternetGateway;
use cairn_resources::ec2_route_table::Ec2RouteTable;
use cairn_resources::ec2_security_group::Ec2SecurityGroup;
use cairn_resources::ec2_subnet::Ec2Subnet;
use cairn_resources::ec2_vpc::Ec2Vpc;

const PAGE: usize = 200;
const VPCS: usize = 20;
const SUBNETS: usize = 600;
const GROUPS: usize = 200;
const TABLES: usize = 150;
const GATEWAYS: usize = 30;
const RUNS: usize = 5;

fn client(rules: &[&Rule]) -> Client {
    let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        mocks = mocks.with_rule(rule);
    }
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "bench"))
        .http_client(create_mock_http_client())
        .interceptor(mocks)
        .build();
    Client::from_conf(config)
}

/// The ids a Describe call asks for: its id list, else the values of the named filter.
fn asked(ids: &[String], filters: &[Filter], filter_name: &str) -> Vec<String> {
    if !ids.is_empty() {
        return ids.to_vec();
    }
    filters.iter().filter(|f| f.name() == Some(filter_name)).flat_map(|f| f.values().to_vec()).collect()
}

/// One page of `items` after `token`, and the token of the next page.
fn page<T: Clone>(items: &[T], token: Option<&str>) -> (Vec<T>, Option<String>) {
    let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
    let end = (start + PAGE).min(items.len());
    (items[start.min(end)..end].to_vec(), (end < items.len()).then(|| end.to_string()))
}

fn tags(address: &str) -> Vec<Tag> {
    [("cairn:stack", "bench"), ("cairn:env", "dev"), ("cairn:address", address), ("Project", "LegacyPlatform"), ("Owner", "platform-team")]
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

fn vpc_id(i: usize) -> String {
    format!("vpc-{i:017x}")
}

fn vpc(id: &str) -> Vpc {
    Vpc::builder().vpc_id(id).cidr_block("10.0.0.0/16").owner_id("123456789012").set_tags(Some(tags(id))).build()
}

fn subnet(id: &str) -> Subnet {
    Subnet::builder()
        .subnet_id(id)
        .vpc_id(vpc_id(0))
        .cidr_block("10.0.1.0/24")
        .availability_zone("us-east-1a")
        .map_public_ip_on_launch(false)
        .subnet_arn(format!("arn:aws:ec2:us-east-1:123456789012:subnet/{id}"))
        .set_tags(Some(tags(id)))
        .build()
}

fn group(id: &str) -> SecurityGroup {
    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").description("internal").build())
        .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-0lb").description("lb").build())
        .build();
    let ssh = IpPermission::builder().ip_protocol("tcp").from_port(22).to_port(22).ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build()).build();
    let all = IpPermission::builder().ip_protocol("-1").ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build()).build();
    SecurityGroup::builder()
        .group_id(id)
        .group_name(id)
        .description("Managed by cairn")
        .vpc_id(vpc_id(0))
        .owner_id("123456789012")
        .ip_permissions(https)
        .ip_permissions(ssh)
        .ip_permissions_egress(all)
        .set_tags(Some(tags(id)))
        .build()
}

fn table(id: &str) -> RouteTable {
    RouteTable::builder()
        .route_table_id(id)
        .vpc_id(vpc_id(0))
        .owner_id("123456789012")
        .routes(Route::builder().destination_cidr_block("10.0.0.0/16").gateway_id("local").origin(RouteOrigin::CreateRouteTable).build())
        .routes(Route::builder().destination_cidr_block("0.0.0.0/0").nat_gateway_id("nat-0abc").origin(RouteOrigin::CreateRoute).build())
        .associations(RouteTableAssociation::builder().subnet_id("subnet-0a").route_table_association_id(format!("rtbassoc-{id}")).main(false).build())
        .set_tags(Some(tags(id)))
        .build()
}

fn gateway(id: &str) -> InternetGateway {
    InternetGateway::builder()
        .internet_gateway_id(id)
        .owner_id("123456789012")
        .attachments(InternetGatewayAttachment::builder().vpc_id(vpc_id(0)).state(aws_sdk_ec2::types::AttachmentStatus::from("available")).build())
        .set_tags(Some(tags(id)))
        .build()
}

struct Run {
    resources: usize,
    calls: usize,
    elapsed: Duration,
}

async fn run_once() -> Run {
    let ids = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}-{i:017x}")).collect::<Vec<_>>();
    let (vpc_ids, subnet_ids, group_ids, table_ids, igw_ids) =
        (ids("vpc", VPCS), ids("subnet", SUBNETS), ids("sg", GROUPS), ids("rtb", TABLES), ids("igw", GATEWAYS));

    let vpcs = mock!(Client::describe_vpcs).then_compute_output(|input| {
        let (items, next) = page(&asked(input.vpc_ids(), input.filters(), "vpc-id"), input.next_token());
        DescribeVpcsOutput::builder().set_vpcs(Some(items.iter().map(|id| vpc(id)).collect())).set_next_token(next).build()
    });
    let attributes = mock!(Client::describe_vpc_attribute).then_compute_output(|input| {
        let on = AttributeBooleanValue::builder().value(true).build();
        let b = DescribeVpcAttributeOutput::builder().vpc_id(input.vpc_id().unwrap_or_default());
        match input.attribute() {
            Some(VpcAttributeName::EnableDnsSupport) => b.enable_dns_support(on).build(),
            _ => b.enable_dns_hostnames(on).build(),
        }
    });
    let default_groups = mock!(Client::describe_security_groups).then_compute_output(|input| {
        let (items, next) = page(&asked(&[], input.filters(), "vpc-id"), input.next_token());
        DescribeSecurityGroupsOutput::builder()
            .set_security_groups(Some(
                items.iter().map(|v| SecurityGroup::builder().group_id(format!("sg-default-{v}")).group_name("default").vpc_id(v).build()).collect(),
            ))
            .set_next_token(next)
            .build()
    });
    let main_tables = mock!(Client::describe_route_tables).then_compute_output(|input| {
        let (items, next) = page(&asked(&[], input.filters(), "vpc-id"), input.next_token());
        let tables = items
            .iter()
            .map(|v| {
                RouteTable::builder()
                    .route_table_id(format!("rtb-main-{v}"))
                    .vpc_id(v)
                    .associations(RouteTableAssociation::builder().main(true).build())
                    .build()
            })
            .collect();
        DescribeRouteTablesOutput::builder().set_route_tables(Some(tables)).set_next_token(next).build()
    });
    let subnets = mock!(Client::describe_subnets).then_compute_output(|input| {
        let (items, next) = page(&asked(input.subnet_ids(), input.filters(), "subnet-id"), input.next_token());
        DescribeSubnetsOutput::builder().set_subnets(Some(items.iter().map(|id| subnet(id)).collect())).set_next_token(next).build()
    });
    let groups = mock!(Client::describe_security_groups).then_compute_output(|input| {
        let (items, next) = page(&asked(input.group_ids(), input.filters(), "group-id"), input.next_token());
        DescribeSecurityGroupsOutput::builder().set_security_groups(Some(items.iter().map(|id| group(id)).collect())).set_next_token(next).build()
    });
    let tables = mock!(Client::describe_route_tables).then_compute_output(|input| {
        let (items, next) = page(&asked(input.route_table_ids(), input.filters(), "route-table-id"), input.next_token());
        DescribeRouteTablesOutput::builder().set_route_tables(Some(items.iter().map(|id| table(id)).collect())).set_next_token(next).build()
    });
    let gateways = mock!(Client::describe_internet_gateways).then_compute_output(|input| {
        let (items, next) = page(&asked(input.internet_gateway_ids(), input.filters(), "internet-gateway-id"), input.next_token());
        DescribeInternetGatewaysOutput::builder().set_internet_gateways(Some(items.iter().map(|id| gateway(id)).collect())).set_next_token(next).build()
    });

    let vpc_kind = Ec2Vpc::from_client(client(&[&vpcs, &attributes, &default_groups, &main_tables]));
    let subnet_kind = Ec2Subnet::from_client(client(&[&subnets]));
    let group_kind = Ec2SecurityGroup::from_client(client(&[&groups]));
    let table_kind = Ec2RouteTable::from_client(client(&[&tables]));
    let igw_kind = Ec2InternetGateway::from_client(client(&[&gateways]));

    let start = Instant::now();
    let mut resources = 0;
    for (kind, ids) in
        [(&vpc_kind as &dyn ResourceKind, &vpc_ids), (&subnet_kind, &subnet_ids), (&group_kind, &group_ids), (&table_kind, &table_ids), (&igw_kind, &igw_ids)]
    {
        let read = kind.read_many(ids).await.unwrap_or_else(|e| panic!("{}: {e}", kind.schema().kind));
        assert_eq!(read.len(), ids.len());
        assert!(read.values().all(Option::is_some), "{}: every resource exists", kind.schema().kind);
        resources += read.len();
    }
    let elapsed = start.elapsed();
    let calls = [&vpcs, &attributes, &default_groups, &main_tables, &subnets, &groups, &tables, &gateways].iter().map(|r| r.num_calls()).sum();
    Run { resources, calls, elapsed }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let runs: Vec<Run> = (0..RUNS).map(|_| rt.block_on(run_once())).collect();
    let first = &runs[0];
    assert!(runs.iter().all(|r| r.calls == first.calls && r.resources == first.resources), "every run makes the same calls");
    let mut times: Vec<Duration> = runs.iter().map(|r| r.elapsed).collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "resources={} api_calls={} calls_per_resource={:.3} median_wall_time_ms={:.1} (median of {RUNS} runs)",
        first.resources,
        first.calls,
        first.calls as f64 / first.resources as f64,
        median.as_secs_f64() * 1000.0
    );
}
