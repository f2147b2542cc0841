// rancher-ha-safety: the Pulumi policy pack of rancher-ha.
//   pulumi preview --policy-pack policy     (after `cd policy && npm ci`)
// The checks are pure functions in rules.ts; policies.ts wires them to @pulumi/policy.
import { PolicyPack } from "@pulumi/policy";
import { installSecretnessHook, policies } from "./policies";

// Lets secrets-are-secret see which inputs are secret (see policies.ts). Must run before the first request.
installSecretnessHook();

new PolicyPack("rancher-ha-safety", {
    description: "Safety rules for rancher-ha: no silent cluster removal, pinned SSH host keys, no command output " +
        "in the environment, stable Kubernetes provider identity, secrets kept secret, pinned Helm chart versions.",
    enforcementLevel: "mandatory",
    policies,
});
