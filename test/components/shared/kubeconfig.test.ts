import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { kubeApiServerUrl, kubeconfigServer, pointKubeconfigAt } from "../../../components/shared/kubeconfig";
import { requireTool, toolMissing } from "../../helpers/tools";

/** The shape RKE writes (pki/kubeconfig.go GetKubeConfigX509WithData), with throwaway data. */
function rkeKubeconfig(server: string): string {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    return `apiVersion: v1
kind: Config
clusters:
- cluster:
    api-version: v1
    certificate-authority-data: ${b64("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")}
    server: "${server}"
  name: "local"
contexts:
- context:
    cluster: "local"
    user: "kube-admin-local"
  name: "local"
current-context: "local"
users:
- name: "kube-admin-local"
  user:
    client-certificate-data: ${b64("cert")}
    client-key-data: ${b64("key")}`;
}

describe("render: kubeconfig pointed at the load balancer", () => {
    it("replaces the server and keeps credentials and contexts", () => {
        const out = pointKubeconfigAt(rkeKubeconfig("https://192.0.2.11:6443"), kubeApiServerUrl("192.0.2.10"));
        assert.equal(kubeconfigServer(out), "https://192.0.2.10:6443");
        assert.match(out, /certificate-authority-data: \S+/);
        assert.match(out, new RegExp(`client-key-data: ${Buffer.from("key").toString("base64")}`));
        assert.match(out, /current-context: local/);
        assert.equal(kubeconfigServer(rkeKubeconfig("https://192.0.2.11:6443")), "https://192.0.2.11:6443");
    });

    it("builds URLs for names, IPv4, IPv6 and other ports", () => {
        assert.equal(kubeApiServerUrl("lb.example.com"), "https://lb.example.com:6443");
        assert.equal(kubeApiServerUrl("2001:db8::10", 8443), "https://[2001:db8::10]:8443");
        assert.throws(() => kubeApiServerUrl("lb", 0), /bad port/);
    });

    it("refuses text that is not a kubeconfig", () => {
        assert.throws(() => pointKubeconfigAt("", "https://x:6443"), /not a kubeconfig/);
        assert.throws(() => pointKubeconfigAt("apiVersion: v1\nclusters: []\n", "https://x:6443"), /not a kubeconfig/);
    });

    it("kubectl reads the rewritten file and sees the LB as the server", function () {
        requireTool(this, toolMissing("kubectl", ["version", "--client"]));
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rancher-ha-kubeconfig-"));
        try {
            const file = path.join(dir, "config");
            fs.writeFileSync(file, pointKubeconfigAt(rkeKubeconfig("https://192.0.2.11:6443"), kubeApiServerUrl("192.0.2.10", 6443)));
            const r = spawnSync("kubectl", ["--kubeconfig", file, "config", "view", "--minify", "-o",
                "jsonpath={.clusters[0].cluster.server} {.contexts[0].context.user}"], { encoding: "utf8", timeout: 20000 });
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.stdout, "https://192.0.2.10:6443 kube-admin-local");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
