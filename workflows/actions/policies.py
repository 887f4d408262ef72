"""Policy actions: bind a policy to, or unbind it from, a device or a device group."""

from __future__ import annotations

from typing import Any

from directory import services
from workflows.actions.base import ActionContext, ActionError
from workflows.actions.params import CheckedAction, ref
from workflows.actions.registry import register
from workflows.actions.resolvers import resolve

_BINDING_PARAMS = {
    "type": "object",
    "required": ["policy"],
    "properties": {
        "policy": ref("policy", "Policy", "The policy: its id or name."),
        "device": ref("device", "Device", "A device (id or hostname); give this or a device group."),
        "device_group": ref("device_group", "Device group", "A device group (id or name); give this or a device."),
    },
    "oneOf": [{"required": ["device"]}, {"required": ["device_group"]}],
    "additionalProperties": False,
    "x-keyflow-messages": {"oneOf": "give exactly one of 'device' or 'device_group'"},
}
_BINDING_OUTPUT = {
    "type": "object",
    "properties": {
        "policy_id": {"type": "integer"},
        "policy": {"type": "string", "description": "The policy's name"},
        "target": {
            "type": "object",
            "description": "What the policy is (un)bound to",
            "properties": {
                "type": {"type": "string", "enum": ["device", "device_group"]},
                "id": {"type": "integer"},
                "name": {"type": "string", "description": "Hostname or device group name"},
            },
        },
        "changed": {"type": "boolean", "description": "False when the binding already was as asked"},
    },
}


class _PolicyBinding(CheckedAction):
    category = "Policies"
    params_schema = _BINDING_PARAMS
    output_schema = _BINDING_OUTPUT
    permissions = ("directory.bind_policy",)
    verb = ""

    @staticmethod
    def service(**kwargs: Any) -> bool:
        raise NotImplementedError

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        policy = resolve("policy", params["policy"])
        kind = "device" if params.get("device") is not None else "device_group"
        if params.get(kind) in (None, ""):
            raise ActionError("give exactly one of 'device' or 'device_group'")
        target = resolve(kind, params[kind])
        ctx.require("directory.bind_policy", policy, verb=self.verb, noun="policy")
        changed = type(self).service(policy=policy, actor=ctx.actor, **{kind: target})
        return {
            "policy_id": policy.pk,
            "policy": policy.name,
            "target": {"type": kind, "id": target.pk, "name": str(target)},
            "changed": changed,
        }


@register
class PolicyBind(_PolicyBinding):
    key = "policy.bind"
    label = "Bind policy"
    description = "Bind a policy to a device or a device group. Already bound: nothing changes."
    verb = "bind"
    service = staticmethod(services.policy_bind)


@register
class PolicyUnbind(_PolicyBinding):
    key = "policy.unbind"
    label = "Unbind policy"
    description = "Unbind a policy from a device or a device group. Not bound: nothing changes."
    verb = "unbind"
    service = staticmethod(services.policy_unbind)
