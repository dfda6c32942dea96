"""Starts moto's server with AWS's semantics where moto 5.2.5 departs from them in ways cairn's tests meet.

- WAFv2 AssociateWebACL: AWS keeps one web ACL per resource (associating another replaces it, repeating
  the same association is a no-op); moto appends the resource to the ACL's list on every call, so a
  repeated associate (an answer lost in transit) leaves it on two ACLs and a later disassociate removes
  only one of them.
"""
import sys

from moto.wafv2.models import WAFV2Backend


def _associate_web_acl(self, web_acl_arn, resource_arn):
    for acl in self.wacls.values():
        while resource_arn in acl.associated_resources:
            acl.associated_resources.remove(resource_arn)
    return _moto_associate(self, web_acl_arn, resource_arn)


_moto_associate = WAFV2Backend.associate_web_acl
WAFV2Backend.associate_web_acl = _associate_web_acl

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
