// rancher-ha: reads the stack config and wires the stages, in order. No logic lives here.
import { loadConfig, nodeSummary } from "./components/config";
import { NginxLoadBalancer } from "./components/loadBalancer/NginxLoadBalancer";
import { RkeCluster } from "./components/rke/RkeCluster";
import { CertManager } from "./components/certManager/CertManager";
import { Rancher } from "./components/rancher/Rancher";
import { AgentHostAliases } from "./components/hostAliases/AgentHostAliases";

const settings = loadConfig();

const lb = new NginxLoadBalancer("lb", {
    loadBalancer: settings.loadBalancer, nodes: settings.nodes, bastion: settings.bastion,
});

const rke = new RkeCluster("rke", {
    settings, loadBalancerAddress: lb.address, kubeApiPort: settings.loadBalancer.ports.kubeApi,
}, { dependsOn: [lb] });

const certManager = new CertManager("cert-manager", {
    version: settings.versions.certManager, tlsSource: settings.tls.source, provider: rke.provider,
    registry: settings.privateRegistry,
}, { dependsOn: [rke] });

// `rke` too: in secret TLS mode CertManager has no children, so depending on it alone would order nothing.
const rancher = new Rancher("rancher", { settings, provider: rke.provider }, { dependsOn: [rke, certManager] });

if (settings.hostAliases.enabled) {
    new AgentHostAliases("host-aliases", {
        hostname: settings.hostname, ip: settings.hostAliases.ip, provider: rke.provider, kubeconfig: rke.kubeconfig,
        rancherVersion: settings.versions.rancher, rancherRelease: rancher.release,
    }, { dependsOn: [rancher] });
}

export const rancherUrl = rancher.url;
export const bootstrapPassword = rancher.bootstrapPassword;
export const caChecksum = rancher.caChecksum;
export const kubeconfig = rke.kubeconfig;
export const loadBalancerAddress = lb.address;
export const nodes = nodeSummary(settings.nodes);

// Read back by the next deployment (RKE_STACK_OUTPUTS): the state file survives a lost admin disk.
export const rkeState = rke.rkeState;
export const rkeConfigHash = rke.rkeConfigHash;
export const rkeRestorePayload = rke.rkeRestorePayload;
