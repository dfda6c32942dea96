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
"""
import json
import sys
from urllib.parse import unquote

from moto.backup.models import BackupBackend
from moto.backup.responses import BackupResponse
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

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
