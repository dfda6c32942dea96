"""Starts moto's server with AWS's semantics where moto 5.2.5 departs from them in ways cairn's tests meet.

- WAFv2 AssociateWebACL: AWS keeps one web ACL per resource (associating another replaces it, repeating
  the same association is a no-op); moto appends the resource to the ACL's list on every call, so a
  repeated associate (an answer lost in transit) leaves it on two ACLs and a later disassociate removes
  only one of them.
- Backup CreateBackupPlan: a deleted plan no longer holds its name on AWS; moto keeps deleted plans (to list
  them with includeDeleted) and refuses every later plan of the same name, so a stack destroyed and applied
  again could never make its plan.
- Backup ListTags: moto reads the ARN as the path's second-to-last segment (boto sends `/tags/ARN/`);
  the Rust SDK sends `/tags/ARN`, so every vault and plan read as untagged.
- CloudWatch: the SDK speaks Smithy RPC v2 CBOR, moto only the query protocol; `cloudwatch_cbor.py` answers
  the alarm operations in CBOR from moto's backend (and follows AWS where moto's alarms depart from it).
- EKS CreateNodegroup: moto's handler drops the request's updateConfig (its backend keeps one set by
  UpdateNodegroupConfig), so a node group created with one read back without it.
- Route 53 CreateHostedZone: AWS answers HostedZoneAlreadyExists for a CallerReference it has seen before (also
  one whose zone was deleted since); moto ignores the reference and makes a second zone, so a create re-sent after
  a lost answer would leave two.
- ACM RequestCertificate: moto remembers an IdempotencyToken for an hour but fails with an internal error (a
  KeyError) when the token's certificate was deleted since; here the token is answered with the ARN it made, as
  an idempotent request is answered within that hour (the certificate then reads as gone).
"""
import json
import sys
from urllib.parse import unquote

from moto.acm.models import AWSCertificateManagerBackend
from moto.backup.models import BackupBackend
from moto.backup.responses import BackupResponse
from moto.eks.responses import EKSResponse
from moto.route53.exceptions import Route53ClientError
from moto.route53.models import Route53Backend
from moto.wafv2.models import WAFV2Backend


def _associate_web_acl(self, web_acl_arn, resource_arn):
    for acl in self.wacls.values():
        while resource_arn in acl.associated_resources:
            acl.associated_resources.remove(resource_arn)
    return _moto_associate(self, web_acl_arn, resource_arn)


_moto_associate = WAFV2Backend.associate_web_acl
WAFV2Backend.associate_web_acl = _associate_web_acl


def _create_backup_plan(self, backup_plan, backup_plan_tags, creator_request_id):
    # Deleted plans are set aside while the check for a live plan of the same name runs.
    deleted = {k: p for k, p in self.plans.items() if p.deletion_date is not None}
    for k in deleted:
        del self.plans[k]
    try:
        return _moto_create_backup_plan(self, backup_plan, backup_plan_tags, creator_request_id)
    finally:
        self.plans.update(deleted)


_moto_create_backup_plan = BackupBackend.create_backup_plan
BackupBackend.create_backup_plan = _create_backup_plan


def _list_tags(self):
    arn = unquote(self.path.split("?")[0].split("/tags/", 1)[-1].rstrip("/"))
    return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=arn)})


BackupResponse.list_tags = _list_tags


def _create_hosted_zone(self, name, private_zone, caller_reference=None, **kwargs):
    used = self.__dict__.setdefault("_cairn_caller_references", set())
    if caller_reference and caller_reference in used:
        raise Route53ClientError(
            "HostedZoneAlreadyExists",
            f"A hosted zone has already been created with the specified caller reference {caller_reference}",
        )
    zone = _moto_create_hosted_zone(self, name, private_zone, caller_reference=caller_reference, **kwargs)
    if caller_reference:
        used.add(caller_reference)
    return zone


_moto_create_hosted_zone = Route53Backend.create_hosted_zone
Route53Backend.create_hosted_zone = _create_hosted_zone


def _request_certificate(self, domain_name, idempotency_token, *args, **kwargs):
    arn = self._get_arn_from_idempotency_token(idempotency_token) if idempotency_token is not None else None
    if arn is not None and arn not in self._certificates:
        return arn
    return _moto_request_certificate(self, domain_name, idempotency_token, *args, **kwargs)


_moto_request_certificate = AWSCertificateManagerBackend.request_certificate
AWSCertificateManagerBackend.request_certificate = _request_certificate

def _create_nodegroup(self):
    result = _moto_create_nodegroup(self)
    update_config = self._get_param("updateConfig")
    if update_config:
        self.eks_backend.describe_nodegroup(
            cluster_name=self._get_param("name"), nodegroup_name=self._get_param("nodegroupName")
        ).update_config = update_config
    return result


_moto_create_nodegroup = EKSResponse.create_nodegroup
EKSResponse.create_nodegroup = _create_nodegroup

if __name__ == "__main__":
    import cloudwatch_cbor
    import moto.server
    from moto.server import main

    cloudwatch_cbor.install(moto.server.DomainDispatcherApplication)

    sys.exit(main(sys.argv[1:]))
