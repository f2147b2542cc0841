// One file of a review render, and the helpers every stage's renderer shares (scripts/render/reviewArtifacts.ts).
import * as yaml from "js-yaml";
import type { HelmReleaseSpec } from "../../components/shared/helm";

export interface ReviewArtifact {
    /** Path inside the output folder, `/`-separated, relative. */
    path: string;
    /** One line for the index: what the file is and who applies it. */
    about: string;
    content: string;
}

/** A node address as a file name part (IPv6 colons and anything else unusual become `_`). */
export function fileSafe(s: string): string {
    return s.replace(/[^A-Za-z0-9._-]/g, "_");
}

/** YAML as the engine would see the object: undefined fields dropped, keys in insertion order. */
export function dumpYaml(o: unknown): string {
    return yaml.dump(JSON.parse(JSON.stringify(o)), { lineWidth: -1, noRefs: true, sortKeys: false });
}

/** A Helm release as `release.yaml` (chart, repository, version, namespace) and `values.yaml` under `dir`. */
export function releaseArtifacts(dir: string, stage: string, r: HelmReleaseSpec): ReviewArtifact[] {
    const helm = `helm template ${r.name} ${r.chart}${r.repo === "" ? "" : ` --repo ${r.repo}`} --version ${r.version} --namespace ${r.namespace} -f values.yaml`;
    const { values, ...release } = r;
    return [
        {
            path: `${dir}/release.yaml`,
            about: `${stage}: the Helm release (chart, repository, version, namespace)`,
            content: `# Helm release installed by pulumi up. The manifests it renders: ${helm}\n` + dumpYaml(release),
        },
        { path: `${dir}/values.yaml`, about: `${stage}: the chart values`, content: dumpYaml(values) },
    ];
}
