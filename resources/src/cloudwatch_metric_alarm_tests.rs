//! Tests of `aws.cloudwatch.metric_alarm` against aws-smithy-mocks: requests sent, shapes read, errors classified.

use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::operation::delete_alarms::{DeleteAlarmsError, DeleteAlarmsOutput};
use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::list_tags_for_resource::{ListTagsForResourceError, ListTagsForResourceOutput};
use aws_sdk_cloudwatch::operation::put_metric_alarm::{PutMetricAlarmInput, PutMetricAlarmOutput};
use aws_sdk_cloudwatch::operation::tag_resource::{TagResourceInput, TagResourceOutput};
use aws_sdk_cloudwatch::operation::untag_resource::{UntagResourceInput, UntagResourceOutput};
use aws_smithy_mocks::{mock, Rule};
use proptest::prelude::*;

use super::*;
use crate::adopt::testing::{assert_refused, desired, foreign_tags, owner};

const NAME: &str = "shop-dev-main";
const ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:shop-dev-main";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

fn kind(rules: &[Rule]) -> CloudWatchMetricAlarm {
    CloudWatchMetricAlarm::from_client(crate::mocked_client!(aws_sdk_cloudwatch, rules))
}

fn code(c: &str) -> aws_smithy_types::error::ErrorMetadata {
    aws_smithy_types::error::ErrorMetadata::builder().code(c).message("injected").build()
}

fn dlq_props() -> Value {
    json!({
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": 1,
        "threshold": "0",
        "metric_name": "ApproximateNumberOfMessagesVisible",
        "namespace": "AWS/SQS",
        "period": 300,
        "statistic": "Maximum",
        "dimensions": {"QueueName": "orders-dlq"},
        "alarm_actions": [TOPIC],
    })
}

/// The alarm AWS would describe after a PutMetricAlarm of `props`.
fn alarm_of(props: &Value) -> MetricAlarm {
    let spec = Spec::from(&desired(props.clone())).unwrap();
    let dims: Vec<Dimension> = spec.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect();
    let mut b = MetricAlarm::builder()
        .alarm_name(&spec.name)
        .alarm_arn(format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}", spec.name))
        .comparison_operator(ComparisonOperator::from(spec.operator.as_str()))
        .evaluation_periods(spec.evaluation_periods)
        .set_threshold(spec.threshold)
        .set_metric_name(spec.metric_name.clone())
        .set_namespace(spec.namespace.clone())
        .set_period(spec.period)
        .set_statistic(spec.statistic.as_deref().map(Statistic::from))
        .set_dimensions(Some(dims))
        .treat_missing_data(&spec.treat_missing_data)
        .actions_enabled(spec.actions_enabled)
        .set_alarm_actions(Some(spec.alarm_actions.clone()));
    if !spec.description.is_empty() {
        b = b.alarm_description(&spec.description);
    }
    b.build()
}

fn describe(alarms: Vec<MetricAlarm>) -> Rule {
    mock!(Client::describe_alarms).then_output(move || DescribeAlarmsOutput::builder().set_metric_alarms(Some(alarms.clone())).build())
}

fn tags_rule(tags: Tags) -> Rule {
    let tags: Vec<Tag> = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    mock!(Client::list_tags_for_resource).then_output(move || ListTagsForResourceOutput::builder().set_tags(Some(tags.clone())).build())
}

fn recorded_put() -> (Rule, Arc<Mutex<Vec<PutMetricAlarmInput>>>) {
    let seen: Arc<Mutex<Vec<PutMetricAlarmInput>>> = Arc::default();
    let sink = seen.clone();
    let rule = mock!(Client::put_metric_alarm).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        PutMetricAlarmOutput::builder().build()
    });
    (rule, seen)
}

fn with(base: Value, extra: Value) -> Value {
    let mut m = base.as_object().cloned().unwrap_or_default();
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        if v.is_null() {
            m.remove(&k);
        } else {
            m.insert(k, v);
        }
    }
    Value::Object(m)
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let query = json!([{"id": "e1", "expression": "m1 * 2", "return_data": true}, {"id": "m1", "metric": {"metric_name": "CPUUtilization", "namespace": "AWS/RDS", "period": 60, "stat": "Average"}}]);
    for extra in [
        json!({"period": 45}),
        json!({"period": 90}),
        json!({"period": 60, "evaluation_periods": 1441}),
        json!({"period": 3600, "evaluation_periods": 169}),
        json!({"datapoints_to_alarm": 2}),
        json!({"threshold": "1.0"}),
        json!({"threshold": "high"}),
        json!({"threshold": null}),
        json!({"threshold_metric_id": "ad1"}),
        json!({"statistic": null}),
        json!({"extended_statistic": "p99"}),
        json!({"statistic": null, "extended_statistic": "q99"}),
        json!({"statistic": null, "extended_statistic": "p101"}),
        json!({"evaluate_low_sample_count_percentiles": "evaluate"}),
        json!({"metric_name": null}),
        json!({"comparison_operator": "Above"}),
        json!({"comparison_operator": "LessThanLowerThreshold"}),
        json!({"alarm_actions": [TOPIC, TOPIC, TOPIC, TOPIC, TOPIC, TOPIC]}),
        json!({"ok_actions": ["alerts"]}),
        json!({"treat_missing_data": "Missing"}),
        json!({"unit": "Bananas"}),
        json!({"dimensions": {"QueueName": ""}}),
        json!({"metric_query": query}),
        json!({"skip": true}),
    ] {
        let props = with(dlq_props(), extra.clone());
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {extra}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {extra}");
    }
    let math = json!({"comparison_operator": "GreaterThanThreshold", "evaluation_periods": 2, "threshold": "90"});
    for q in [
        json!([{"id": "e1", "expression": "m1 * 2"}]),
        json!([{"id": "E1", "expression": "1", "return_data": true}]),
        json!([{"id": "e1", "expression": "1", "return_data": true}, {"id": "e1", "expression": "2"}]),
        json!([{"id": "e1", "return_data": true}]),
        json!([{"id": "m1", "return_data": true, "expression": "1", "metric": {"metric_name": "x", "namespace": "y", "period": 60, "stat": "Sum"}}]),
        json!([{"id": "m1", "return_data": true, "metric": {"metric_name": "x", "namespace": "y", "period": 61, "stat": "Sum"}}]),
        json!([{"id": "m1", "return_data": true, "metric": {"metric_name": "x", "namespace": "y", "period": 60, "stat": "Median"}}]),
        json!([]),
    ] {
        let d = desired(with(math.clone(), json!({"metric_query": q.clone()})));
        assert!(Spec::from(&d).is_err(), "builder accepts {q}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {q}");
    }
}

#[test]
fn thresholds_are_written_the_way_they_read_back() {
    for (f, s) in [(0.0, "0"), (80.0, "80"), (0.5, "0.5"), (-3.25, "-3.25"), (1e10, "10000000000")] {
        assert_eq!(number(f), s);
        assert!(threshold_rule(&json!(s)).is_empty(), "{s}");
    }
    assert!(threshold_rule(&json!("80.0"))[0].contains("as 80"));
}

fn period() -> impl Strategy<Value = i64> {
    prop_oneof![Just(10), Just(20), Just(30), (1i64..=24).prop_map(|n| n * 60)]
}

fn arns() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z]{1,10}".prop_map(|t| format!("arn:aws:sns:us-east-1:123456789012:{t}")), 0..=5)
}

/// A single-metric alarm, drawn prop by prop from the schema's own types.
fn single() -> impl Strategy<Value = Value> {
    let gen = |p: &str| crate::schema_gen::value(SCHEMA.prop(p).unwrap().ty);
    (
        (gen("comparison_operator"), gen("metric_name"), gen("namespace"), period(), 1i64..=24, gen("statistic")),
        (proptest::option::of(1i64..=24), -1.0e6f64..1.0e6, proptest::option::of(gen("unit")), gen("dimensions"), gen("treat_missing_data")),
        (arns(), arns(), arns(), any::<bool>(), proptest::option::of(gen("alarm_description"))),
    )
        .prop_map(|((op, metric, ns, period, n, stat), (m, t, unit, dims, missing), (alarm, ok, insufficient, enabled, description))| {
            let op = if BAND_OPERATORS.contains(&op.as_str().unwrap_or_default()) { json!("GreaterThanThreshold") } else { op };
            json!({
                "comparison_operator": op, "metric_name": metric, "namespace": ns, "period": period, "evaluation_periods": n,
                "statistic": stat, "datapoints_to_alarm": m.map(|m| m.min(n)), "threshold": number(t), "unit": unit,
                "dimensions": dims, "treat_missing_data": missing, "alarm_actions": alarm, "ok_actions": ok,
                "insufficient_data_actions": insufficient, "actions_enabled": enabled, "alarm_description": description,
            })
        })
}

/// A metric-math alarm: one expression over one to three metrics.
fn math() -> impl Strategy<Value = Value> {
    let gen = |p: &str| crate::schema_gen::value(SCHEMA.prop(p).unwrap().ty);
    (proptest::collection::vec((gen("metric_name"), gen("namespace"), period(), gen("statistic")), 1..=3), 1i64..=10, -100i64..100).prop_map(
        |(metrics, n, t)| {
            let mut queries: Vec<Value> = metrics
                .iter()
                .enumerate()
                .map(|(i, (name, ns, p, stat))| json!({"id": format!("m{i}"), "metric": {"metric_name": name, "namespace": ns, "period": p, "stat": stat}}))
                .collect();
            let sum: Vec<String> = (0..metrics.len()).map(|i| format!("m{i}")).collect();
            queries.push(json!({"id": "e1", "expression": sum.join(" + "), "label": "total", "return_data": true}));
            json!({"comparison_operator": "GreaterThanOrEqualToThreshold", "evaluation_periods": n, "threshold": t.to_string(), "metric_query": queries})
        },
    )
}

fn strip_nulls(v: Value) -> Props {
    v.as_object().cloned().unwrap_or_default().into_iter().filter(|(_, v)| !v.is_null()).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every alarm the schema accepts becomes a PutMetricAlarm request, and what AWS then
    /// describes reads back with no difference from the stack.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in prop_oneof![single(), math()]) {
        let props = strip_nulls(props);
        proptest::prop_assume!(crate::schema_check::accepts(&SCHEMA, &props));
        let d = desired(Value::Object(props));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        let observed = Observed { id: spec.name.clone(), props: spec.props(), attrs: Props::new(), tags: d.tags.clone() };
        let changes = crate::adopt::changed(&SCHEMA, &d, &observed);
        proptest::prop_assert!(changes.is_empty(), "{changes:?}");
        proptest::prop_assert!(NAMING.rule.violation(&spec.name).is_none());
    }
}

#[tokio::test]
async fn create_looks_first_then_puts_the_whole_alarm_with_its_tags() {
    let (put, seen) = recorded_put();
    let props = dlq_props();
    let list = mock!(Client::describe_alarms)
        .sequence()
        .output(|| DescribeAlarmsOutput::builder().build())
        .output({
            let a = alarm_of(&props);
            move || DescribeAlarmsOutput::builder().metric_alarms(a.clone()).build()
        })
        .build();
    let want = desired(props);
    let obs = kind(&[put, list.clone()]).create(&want).await.unwrap();

    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.alarm_name(), Some(NAME));
    assert_eq!(input.metric_name(), Some("ApproximateNumberOfMessagesVisible"));
    assert_eq!(input.namespace(), Some("AWS/SQS"));
    assert_eq!(input.period(), Some(300));
    assert_eq!(input.statistic(), Some(&Statistic::Maximum));
    assert_eq!(input.threshold(), Some(0.0));
    assert_eq!(input.comparison_operator(), Some(&ComparisonOperator::GreaterThanThreshold));
    assert_eq!(input.treat_missing_data(), Some("missing"));
    assert_eq!(input.alarm_actions(), [TOPIC.to_string()]);
    assert_eq!(input.dimensions()[0].name(), Some("QueueName"));
    let sent: Tags = input.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect();
    assert_eq!(sent, want.tags);
    assert_eq!(list.num_calls(), 2);
    assert_eq!(obs.id, NAME);
    assert_eq!(obs.attrs["arn"], json!(ARN));
    assert_eq!(obs.props["threshold"], json!("0"));
    assert!(crate::adopt::changed(&SCHEMA, &want, &obs).is_empty());
}

#[tokio::test]
async fn create_adopts_our_alarm_and_refuses_someone_elses() {
    let props = dlq_props();
    let want = desired(with(props.clone(), json!({"threshold": "5"})));
    // Ours, from an attempt whose answer was lost: brought to the stack with one put.
    let (put, seen) = recorded_put();
    let adopted = kind(&[describe(vec![alarm_of(&props)]), tags_rule(owner().tags()), put]).create(&want).await.unwrap();
    assert_eq!(adopted.id, NAME);
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.threshold(), Some(5.0));
    assert!(input.tags().is_empty(), "tags of an existing alarm change through TagResource only");

    // Someone else's (or nobody's): never overwritten.
    let (put, seen) = recorded_put();
    assert_refused(kind(&[describe(vec![alarm_of(&props)]), tags_rule(foreign_tags()), put.clone()]).create(&want).await, "alarm shop-dev-main");
    let (put2, _) = recorded_put();
    assert_refused(kind(&[describe(vec![alarm_of(&props)]), tags_rule(Tags::new()), put2]).create(&want).await, "alarm shop-dev-main");
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn read_many_describes_by_name_and_reads_back_the_stack_shape() {
    let props = with(dlq_props(), json!({"alarm_description": "orders DLQ has messages"}));
    let list = describe(vec![alarm_of(&props)]);
    let tags = tags_rule(owner().tags());
    let ids = [NAME.to_string(), "gone".to_string()];
    let out = kind(&[list.clone(), tags.clone()]).read_many(&ids).await.unwrap();
    assert_eq!((list.num_calls(), tags.num_calls()), (1, 1));
    let o = out[NAME].as_ref().unwrap();
    assert!(crate::adopt::changed(&SCHEMA, &desired(props), o).is_empty(), "{:?}", o.props);
    assert_eq!(out["gone"], None);
}

#[tokio::test]
async fn an_alarm_deleted_between_describe_and_tags_reads_as_gone() {
    let tags = mock!(Client::list_tags_for_resource).then_error(|| ListTagsForResourceError::generic(code("ResourceNotFoundException")));
    assert_eq!(kind(&[describe(vec![alarm_of(&dlq_props())]), tags]).read(NAME).await.unwrap(), None);
}

#[tokio::test]
async fn update_puts_settings_and_tags_separately() {
    let props = dlq_props();
    let (put, seen) = recorded_put();
    let tagged: Arc<Mutex<Vec<TagResourceInput>>> = Arc::default();
    let tsink = tagged.clone();
    let tag = mock!(Client::tag_resource).then_compute_output(move |input| {
        tsink.lock().unwrap().push(input.clone());
        TagResourceOutput::builder().build()
    });
    let untagged: Arc<Mutex<Vec<UntagResourceInput>>> = Arc::default();
    let usink = untagged.clone();
    let untag = mock!(Client::untag_resource).then_compute_output(move |input| {
        usink.lock().unwrap().push(input.clone());
        UntagResourceOutput::builder().build()
    });
    let mut current = owner().tags();
    current.insert("old".into(), "x".into());
    let mut want = desired(with(props.clone(), json!({"evaluation_periods": 3, "datapoints_to_alarm": 2})));
    want.tags.insert("team".into(), "core".into());
    let kind = kind(&[put, tag, untag, describe(vec![alarm_of(&props)]), tags_rule(current)]);

    let obs = kind.update(NAME, &want, &["tags".to_string()]).await.unwrap();
    assert!(seen.lock().unwrap().is_empty(), "a tag change alone sends no PutMetricAlarm");
    assert_eq!(tagged.lock().unwrap().pop().unwrap().resource_arn(), Some(ARN));
    assert_eq!(untagged.lock().unwrap().pop().unwrap().tag_keys(), ["old".to_string()]);
    assert_eq!(obs.tags, want.tags);

    let obs = kind.update(NAME, &want, &["evaluation_periods".to_string(), "datapoints_to_alarm".to_string()]).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!((input.evaluation_periods(), input.datapoints_to_alarm()), (Some(3), Some(2)));
    assert!(input.tags().is_empty());
    assert_eq!(input.alarm_actions(), [TOPIC.to_string()], "a put replaces the alarm, so everything is sent");
    assert_eq!(obs.props["datapoints_to_alarm"], json!(2));
}

#[tokio::test]
async fn metric_math_alarms_send_their_queries() {
    let (put, seen) = recorded_put();
    let props = json!({
        "comparison_operator": "GreaterThanThreshold", "evaluation_periods": 2, "threshold": "0.5",
        "metric_query": [
            {"id": "errors", "metric": {"metric_name": "Errors", "namespace": "App", "period": 60, "stat": "Sum", "dimensions": {"Service": "api"}}},
            {"id": "calls", "metric": {"metric_name": "Calls", "namespace": "App", "period": 60, "stat": "Sum", "unit": "Count"}},
            {"id": "rate", "expression": "errors / calls", "label": "error rate", "return_data": true},
        ],
    });
    let want = desired(props);
    let spec = Spec::from(&want).unwrap();
    kind(&[put, describe(vec![]), tags_rule(owner().tags())]).update(NAME, &want, &["threshold".to_string()]).await.unwrap_err();
    assert!(seen.lock().unwrap().is_empty(), "an update of a missing alarm sends nothing");

    let (put, seen) = recorded_put();
    let a = MetricAlarm::builder().alarm_name(NAME).alarm_arn(ARN).build();
    kind(&[put, describe(vec![a]), tags_rule(owner().tags())]).update(NAME, &want, &["threshold".to_string()]).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.metric_name(), None);
    assert_eq!(input.period(), None);
    let q = input.metrics();
    assert_eq!(q.len(), 3);
    assert_eq!(q[0].metric_stat().unwrap().metric().unwrap().dimensions()[0].value(), Some("api"));
    assert_eq!(q[1].metric_stat().unwrap().unit(), Some(&StandardUnit::Count));
    assert_eq!((q[2].expression(), q[2].return_data()), (Some("errors / calls"), Some(true)));
    assert_eq!(q[0].return_data(), Some(false));
    // DescribeAlarms' answer for what was sent reads back as the stack wrote it.
    let back = Spec::from_aws(
        &MetricAlarm::builder()
            .alarm_name(NAME)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .evaluation_periods(2)
            .threshold(0.5)
            .set_metrics(Some(q.to_vec()))
            .build(),
    );
    assert_eq!(back.props(), spec.props());
}

#[tokio::test]
async fn delete_of_a_missing_alarm_is_ok() {
    let del = mock!(Client::delete_alarms).then_error(|| DeleteAlarmsError::generic(code("ResourceNotFound")));
    kind(&[del]).delete(NAME).await.unwrap();
    let del = mock!(Client::delete_alarms).then_output(|| DeleteAlarmsOutput::builder().build());
    kind(&[del]).delete(NAME).await.unwrap();
}

#[tokio::test]
async fn throttles_and_access_denials_are_classified() {
    let put = mock!(Client::describe_alarms).then_error(|| aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsError::generic(code("Throttling")));
    assert!(matches!(kind(&[put]).create(&desired(dlq_props())).await, Err(ProviderError::Throttled(_))));
    let del = mock!(Client::delete_alarms).then_error(|| DeleteAlarmsError::generic(code("AccessDenied")));
    assert!(matches!(kind(&[del]).delete(NAME).await, Err(ProviderError::AccessDenied(_))));
}

#[tokio::test]
async fn find_owned_matches_name_and_owner() {
    let list = describe(vec![alarm_of(&dlq_props())]);
    let d = desired(dlq_props());
    assert_eq!(kind(&[list.clone(), tags_rule(owner().tags())]).find_owned(&d).await.unwrap().unwrap().id, NAME);
    assert_eq!(kind(&[list, tags_rule(foreign_tags())]).find_owned(&d).await.unwrap(), None);
    assert_eq!(kind(&[describe(vec![])]).find_owned(&d).await.unwrap(), None);
}
