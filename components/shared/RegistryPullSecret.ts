// The image pull secret for a private registry that needs a login, shared by the cert-manager and Rancher stages.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { PrivateRegistry } from "../config";
import { ChartRegistry, dockerConfigJson } from "./helm";

/**
 * A `kubernetes.io/dockerconfigjson` Secret named `chart.pullSecret` in `namespace`, or undefined when the charts
 * pull from no registry that needs a login (see chartRegistry).
 */
export function registryPullSecret(
    name: string, namespace: string, chart: ChartRegistry, registry: PrivateRegistry | undefined,
    opts: pulumi.CustomResourceOptions, namespaceResource: pulumi.Resource,
): k8s.core.v1.Secret | undefined {
    if (!chart.pullSecret || !registry || registry.user === undefined || registry.password === undefined) {
        return undefined;
    }
    const user = registry.user;
    return new k8s.core.v1.Secret(name, {
        metadata: { name: chart.pullSecret, namespace },
        type: "kubernetes.io/dockerconfigjson",
        stringData: {
            ".dockerconfigjson": pulumi.secret(registry.password.apply(p => dockerConfigJson(registry.url, user, p))),
        },
    }, { ...opts, dependsOn: [namespaceResource], deleteBeforeReplace: true });
}
