// rancher-ha: reads the stack config and wires the stages, in order. No logic lives here.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, nodeSummary } from "./components/config";
import { NginxLoadBalancer } from "./components/loadBalancer/NginxLoadBalancer";
import { RkeCluster } from "./components/rke/RkeCluster";
import { Rke2Cluster } from "./components/rke2/Rke2Cluster";
import { CertManager } from "./components/certManager/CertManager";
import { Rancher } from "./components/rancher/Rancher";
import { AgentHostAliases } from "./components/hostAliases/AgentHostAliases";
import { ClusterDnsHosts } from "./components/hostAliases/ClusterDnsHosts";
import { RancherSetup } from "./components/rancherSetup/RancherSetup";
import { RancherBackup } from "./components/backup/RancherBackup";
import { BackupOperator, backupOperatorChartVersion } from "./components/backup/BackupOperator";
import { RancherRestore } from "./components/backup/RancherRestore";

const settings = loadConfig();

const lb = new NginxLoadBalancer("lb", {
    loadBalancer: settings.loadBalancer, nodes: settings.nodes, bastion: settings.bastion,
});

// distribution: rke (RKE1, `rke up` on the admin host) or rke2 (RKE2, server by server). Same contract after it.
const clusterArgs = { settings, loadBalancerAddress: lb.address, kubeApiPort: settings.loadBalancer.ports.kubeApi };
const rke = settings.distribution === "rke2"
    ? new Rke2Cluster("rke2", clusterArgs, { dependsOn: [lb] })
    : new RkeCluster("rke", clusterArgs, { dependsOn: [lb] });

// The rancher-backup operator, for backups (after Rancher) or a restore (before cert-manager and Rancher: restoreFrom).
const backupOperator = settings.backup || settings.restoreFrom ? new BackupOperator("rancher-backup", {
    rancherVersion: settings.versions.rancher, chartVersion: backupOperatorChartVersion(settings),
    provider: rke.provider, registry: settings.privateRegistry,
}, { dependsOn: [rke] }) : undefined;
const restore = settings.restoreFrom && backupOperator ? new RancherRestore("rancher-restore", {
    settings: settings.restoreFrom, distribution: settings.distribution, operator: backupOperator,
    provider: rke.provider, kubeconfig: rke.kubeconfig,
}, { dependsOn: [backupOperator] }) : undefined;
const afterRestore = restore ? [restore] : [];

const certManager = new CertManager("cert-manager", {
    version: settings.versions.certManager, tlsSource: settings.tls.source, provider: rke.provider,
    registry: settings.privateRegistry, charts: settings.charts,
}, { dependsOn: [rke, ...afterRestore] });

// `rke` too: in secret TLS mode CertManager has no children, so depending on it alone would order nothing.
const rancher = new Rancher("rancher", { settings, provider: rke.provider }, { dependsOn: [rke, ...afterRestore, certManager] });

if (settings.hostAliases.enabled) {
    new AgentHostAliases("host-aliases", {
        hostname: settings.hostname, ip: settings.hostAliases.ip, provider: rke.provider, kubeconfig: rke.kubeconfig,
        rancherVersion: settings.versions.rancher, rancherRelease: rancher.release,
    }, { dependsOn: [rancher] });
    if (rke instanceof Rke2Cluster) {
        new ClusterDnsHosts("cluster-dns", { hostname: settings.hostname, ip: settings.hostAliases.ip, provider: rke.provider },
            { dependsOn: [rke] });
    }
}

// First-run setup and imported clusters (rancherSetup / importedClusters), after Rancher is ready.
const setup = settings.rancherSetup.enabled ? new RancherSetup("rancher-setup", {
    settings: settings.rancherSetup, rancherUrl: rancher.url, bootstrapPassword: rancher.bootstrapPassword,
    caPem: rancher.caCertPem, caFromCluster: settings.tls.source === "rancher", caChecksum: rancher.caChecksum,
    kubeconfig: rke.kubeconfig, provider: rke.provider, rancherReady: [rancher],
}, { dependsOn: [rancher] }) : undefined;

// Scheduled, encrypted backups of Rancher to S3 (backup), once Rancher runs.
const backup = settings.backup && backupOperator ? new RancherBackup("rancher-backup", {
    settings: settings.backup, operator: backupOperator, provider: rke.provider,
}, { dependsOn: [rancher] }) : undefined;

export const rancherUrl = rancher.url;
export const rancherApiUrl = setup ? pulumi.interpolate`${rancher.url}/v3` : undefined;
export const adminPassword = setup?.adminPassword;
export const importedClusterIds = setup?.importedClusterIds;
export const bootstrapPassword = rancher.bootstrapPassword;
export const caChecksum = rancher.caChecksum;
export const kubeconfig = rke.kubeconfig;
export const loadBalancerAddress = lb.address;
export const nodes = nodeSummary(settings.nodes);
// What a stack restoring these backups needs as its backupEncryptionKey (secret).
export const backupEncryptionKey = backup?.encryptionKey;
// What the restore stage did (restored file and time, the local cluster object).
export const restoreReport = restore?.report;

// Read back by the next deployment (RKE_STACK_OUTPUTS): the state file survives a lost admin disk.
export const rkeState = rke instanceof RkeCluster ? rke.rkeState : undefined;
export const rkeConfigHash = rke instanceof RkeCluster ? rke.rkeConfigHash : undefined;
export const rkeRestorePayload = rke instanceof RkeCluster ? rke.rkeRestorePayload : undefined;
// RKE2: the join token, which a restore of an etcd snapshot on new hosts needs (secret).
export const rke2Token = rke instanceof Rke2Cluster ? rke.token : undefined;
