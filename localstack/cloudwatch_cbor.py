"""CloudWatch over Smithy RPC v2 CBOR in front of moto, which speaks only the query protocol for CloudWatch.

The AWS SDKs for CloudWatch now send `POST /service/GraniteServiceVersion20100801/operation/OP` with a CBOR
body and the header `smithy-protocol: rpc-v2-cbor`. This front answers those requests for the alarm
operations cairn uses, calling moto's CloudWatch backend directly and encoding the answer in the Smithy
model's shapes (member names as the query protocol spells them, timestamps as CBOR tag 1, epoch seconds).
Errors are a CBOR map with `__type` and `message`, plus the awsQueryCompatible header
`x-amzn-query-error: Code;Sender` that carries the query protocol's error code.

Where moto departs from AWS the front follows AWS:
- PutMetricAlarm on an existing alarm ignores its Tags (AWS applies them only at creation); moto merges them.
- DeleteAlarms deletes the alarm's tags too; moto keeps them, so a re-created alarm inherited old tags.
- ListTagsForResource of an alarm that does not exist is ResourceNotFoundException; moto answers no tags.
- DescribeAlarms without AlarmTypes lists metric alarms only, never composite ones.
"""
import os
import re

import cbor2
from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core.exceptions import ServiceException

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
NAMESPACE = "com.amazonaws.cloudwatch#"
_SCOPE = re.compile(r"Credential=([^/,]+)/[^/]+/([^/]+)/")


class CborError(Exception):
    """An error answer: the query protocol's code, its modeled shape name, the HTTP status and the fault side."""

    def __init__(self, code, message, shape=None, status=400, side="Sender"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.shape = shape or code
        self.status = status
        self.side = side


def _not_found(arn):
    return CborError("ResourceNotFoundException", f"{arn} not found", status=404)


def _account_and_region(environ):
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (match.group(1), match.group(2)) if match else ("AKIAEXAMPLE", "us-east-1")
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"], region
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"], region
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key), region


def _timestamp(dt):
    return cbor2.CBORTag(1, dt.timestamp()) if dt is not None else None


def _compact(shape):
    """Drops unset members: Smithy omits them rather than sending null."""
    return {k: v for k, v in shape.items() if v is not None and v != []}


def _dimensions(dims):
    return [_compact({"Name": d.name, "Value": d.value}) for d in dims]


def _query(q):
    stat = None
    if q.metric_stat is not None:
        m = q.metric_stat.metric
        stat = _compact(
            {
                "Metric": _compact({"Namespace": m.namespace, "MetricName": m.metric_name, "Dimensions": _dimensions(m.dimensions)}),
                "Period": int(q.metric_stat.period) if q.metric_stat.period is not None else None,
                "Stat": q.metric_stat.stat,
                "Unit": q.metric_stat.unit,
            }
        )
    return _compact(
        {
            "Id": q.id,
            "MetricStat": stat,
            "Expression": q.expression,
            "Label": q.label,
            "ReturnData": q.return_data,
            "Period": int(q.period) if q.period is not None else None,
        }
    )


def _alarm(a):
    return _compact(
        {
            "AlarmName": a.name,
            "AlarmArn": a.alarm_arn,
            "AlarmDescription": a.description,
            "AlarmConfigurationUpdatedTimestamp": _timestamp(a.configuration_updated_timestamp),
            "ActionsEnabled": bool(a.actions_enabled),
            "OKActions": list(a.ok_actions),
            "AlarmActions": list(a.alarm_actions),
            "InsufficientDataActions": list(a.insufficient_data_actions),
            "StateValue": a.state_value,
            "StateReason": a.state_reason,
            "StateReasonData": a.state_reason_data,
            "StateUpdatedTimestamp": _timestamp(a.state_updated_timestamp),
            "MetricName": a.metric_name,
            "Namespace": a.namespace,
            "Statistic": a.statistic,
            "ExtendedStatistic": a.extended_statistic,
            "Dimensions": _dimensions(a.dimensions),
            "Period": int(a.period) if a.period is not None else None,
            "Unit": a.unit,
            "EvaluationPeriods": int(a.evaluation_periods) if a.evaluation_periods is not None else None,
            "DatapointsToAlarm": int(a.datapoints_to_alarm) if a.datapoints_to_alarm is not None else None,
            "Threshold": float(a.threshold) if a.threshold is not None else None,
            "ComparisonOperator": a.comparison_operator,
            "TreatMissingData": a.treat_missing_data,
            "EvaluateLowSampleCountPercentile": a.evaluate_low_sample_count_percentile,
            "Metrics": [_query(q) for q in a.metric_data_queries],
            "ThresholdMetricId": a.threshold_metric_id,
        }
    )


def _data_queries(metrics):
    out = []
    for m in metrics or []:
        stat = m.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat.get("Metric", {})
            dims = [Dimension(d.get("Name"), d.get("Value")) for d in metric.get("Dimensions", [])]
            metric_stat = MetricStat(
                metric=Metric(metric_name=metric.get("MetricName"), namespace=metric.get("Namespace"), dimensions=dims),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        out.append(
            MetricDataQuery(
                query_id=m.get("Id"),
                label=m.get("Label"),
                period=m.get("Period"),
                return_data=m.get("ReturnData"),
                expression=m.get("Expression"),
                metric_stat=metric_stat,
            )
        )
    return out or None


def put_metric_alarm(backend, req):
    name = req.get("AlarmName")
    if not name:
        raise CborError("ValidationError", "1 validation error detected: Value null at 'alarmName' failed to satisfy constraint: Member must not be null")
    # AWS: "If you are using this operation to update an existing alarm, any tags you specify are ignored."
    tags = None if name in backend.alarms else req.get("Tags")
    backend.put_metric_alarm(
        name=name,
        namespace=req.get("Namespace"),
        metric_name=req.get("MetricName"),
        metric_data_queries=_data_queries(req.get("Metrics")),
        comparison_operator=req.get("ComparisonOperator"),
        evaluation_periods=req.get("EvaluationPeriods"),
        datapoints_to_alarm=req.get("DatapointsToAlarm"),
        period=req.get("Period"),
        threshold=req.get("Threshold"),
        statistic=req.get("Statistic"),
        extended_statistic=req.get("ExtendedStatistic"),
        description=req.get("AlarmDescription"),
        dimensions=req.get("Dimensions", []),
        alarm_actions=req.get("AlarmActions", []),
        ok_actions=req.get("OKActions", []),
        insufficient_data_actions=req.get("InsufficientDataActions", []),
        unit=req.get("Unit"),
        actions_enabled=req.get("ActionsEnabled", True),
        treat_missing_data=req.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=req.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=req.get("ThresholdMetricId"),
        tags=tags,
    )
    return {}


def describe_alarms(backend, req):
    alarms = [a for a in backend.alarms.values() if a.rule is None]
    if "AlarmNames" in req:
        names = set(req["AlarmNames"])
        alarms = [a for a in alarms if a.name in names]
    if req.get("AlarmNamePrefix"):
        alarms = [a for a in alarms if a.name.startswith(req["AlarmNamePrefix"])]
    if req.get("StateValue"):
        alarms = [a for a in alarms if a.state_value == req["StateValue"]]
    types = req.get("AlarmTypes") or ["MetricAlarm"]
    metric = [_alarm(a) for a in sorted(alarms, key=lambda a: a.name)] if "MetricAlarm" in types else []
    return {"MetricAlarms": metric, "CompositeAlarms": []}


def delete_alarms(backend, req):
    for name in req.get("AlarmNames", []):
        alarm = backend.alarms.get(name)
        if alarm is not None:
            backend.tagger.delete_all_tags_for_resource(alarm.alarm_arn)
    backend.delete_alarms(req.get("AlarmNames", []))
    return {}


def _alarm_of(backend, arn):
    if not any(a.alarm_arn == arn for a in backend.alarms.values()):
        raise _not_found(arn)


def tag_resource(backend, req):
    arn = req.get("ResourceARN", "")
    _alarm_of(backend, arn)
    backend.tagger.tag_resource(arn, req.get("Tags", []))
    return {}


def untag_resource(backend, req):
    arn = req.get("ResourceARN", "")
    _alarm_of(backend, arn)
    backend.tagger.untag_resource_using_names(arn, req.get("TagKeys", []))
    return {}


def list_tags_for_resource(backend, req):
    arn = req.get("ResourceARN", "")
    _alarm_of(backend, arn)
    tags = backend.list_tags_for_resource(arn)
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


OPERATIONS = {
    "PutMetricAlarm": put_metric_alarm,
    "DescribeAlarms": describe_alarms,
    "DeleteAlarms": delete_alarms,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}


def _answer(start_response, status, body, error=None):
    headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), ("x-amzn-RequestId", "cbor-front-0000")]
    if error is not None:
        headers.append(("x-amzn-query-error", f"{error.code};{error.side}"))
    data = cbor2.dumps(body)
    headers.append(("Content-Length", str(len(data))))
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
    start_response(f"{status} {reasons.get(status, 'Error')}", headers)
    return [data]


def handle(environ, start_response):
    """Answers one RPC v2 CBOR request (the caller checked the path)."""
    op = environ.get("PATH_INFO", "")[len(PREFIX) :].strip("/")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        req = cbor2.loads(raw) if raw else {}
        if not isinstance(req, dict):
            raise CborError("SerializationException", "the request body is not a CBOR map")
        handler = OPERATIONS.get(op)
        if handler is None:
            raise CborError("UnknownOperationException", f"the CBOR front does not implement {op}", status=404)
        account, region = _account_and_region(environ)
        return _answer(start_response, 200, handler(cloudwatch_backends[account][region], req))
    except CborError as e:
        err = e
    except ServiceException as e:
        err = CborError(e.code, e.message)
    except cbor2.CBORDecodeError as e:
        err = CborError("SerializationException", f"the request body is not CBOR: {e}")
    return _answer(start_response, err.status, {"__type": NAMESPACE + err.shape, "message": err.message}, err)


def install(dispatcher_class):
    """Routes CBOR CloudWatch requests to `handle` ahead of moto's own dispatch."""
    moto_call = dispatcher_class.__call__

    def call(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(PREFIX):
            return handle(environ, start_response)
        return moto_call(self, environ, start_response)

    dispatcher_class.__call__ = call
