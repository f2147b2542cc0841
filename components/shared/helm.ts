// What the chart-installing stages share: chart version arithmetic, the image registry the charts pull from (with
// its pull secret), and one Helm release's spec. Pure.

/** [major, minor, patch] of a chart version such as `v1.15.3`, `2.9.2` or `v1.16.0-alpha.1` (pre-release ignored). */
export function parseVersion(version: string): [number, number, number] {
    const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$/.exec(version.trim());
    if (!m) {
        throw new Error(`"${version}" is not a chart version (expected e.g. v1.15.3 or 2.9.2)`);
    }
    return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** True when `version` >= `min` (both chart versions). */
export function versionAtLeast(version: string, min: string): boolean {
    const a = parseVersion(version);
    const b = parseVersion(min);
    for (let i = 0; i < 3; i++) {
        if (a[i] !== b[i]) {
            return a[i] > b[i];
        }
    }
    return true;
}

/** `.dockerconfigjson` of an image pull secret for a registry login (secret: the caller keeps it secret). */
export function dockerConfigJson(registry: string, user: string, password: string): string {
    const auth = Buffer.from(`${user}:${password}`, "utf8").toString("base64");
    return JSON.stringify({ auths: { [registry]: { username: user, password, auth } } });
}

/** Name of the image pull secret created in each namespace when the private registry needs a login. */
export const REGISTRY_PULL_SECRET = "rancher-ha-registry";

/** What the charts pull images from: only a default private registry is used, and a login gets a pull secret. */
export interface ChartRegistry {
    /** Registry host[:port], when privateRegistry.isDefault. */
    url?: string;
    /** The pull secret's name, when that registry needs a login. */
    pullSecret?: string;
}

export function chartRegistry(registry?: { url: string; user?: string; password?: unknown; isDefault: boolean }): ChartRegistry {
    const r = registry?.isDefault ? registry : undefined;
    const login = r !== undefined && r.user !== undefined && r.password !== undefined;
    return { url: r?.url, pullSecret: login ? REGISTRY_PULL_SECRET : undefined };
}

/** One Helm release as a stage installs it (the components and the review render share these). */
export interface HelmReleaseSpec {
    /** Release name; also the chart's fullname, which names its workloads. */
    name: string;
    namespace: string;
    /** The chart's name in `repo`, or its whole `oci://` reference (then repo is ""). */
    chart: string;
    repo: string;
    version: string;
    values: Record<string, unknown>;
}

/**
 * `chart` and `repo` of a chart in a repository: a Helm repository URL (`https://...`: chart by name, repo = URL) or
 * an OCI registry path (`oci://host/path`: the chart is `oci://host/path/<name>`, no repo).
 */
export function chartFrom(repository: string, name: string): { chart: string; repo: string } {
    return repository.startsWith("oci://")
        ? { chart: `${repository.replace(/\/+$/, "")}/${name}`, repo: "" }
        : { chart: name, repo: repository };
}

/** A login for the chart repositories (charts.user, chartRepositoryPassword, charts.caFile). */
export interface ChartRepositoryAuth<Secret> {
    username?: string;
    password?: Secret;
    caFile?: string;
}

/** The login of the operator's chart repositories, when the stack has one (its password stays a secret Output). */
export function chartAuth<Secret>(charts?: { user?: string; password?: Secret; caFile?: string }): ChartRepositoryAuth<Secret> {
    return charts === undefined ? {} : { username: charts.user, password: charts.password, caFile: charts.caFile };
}

/** The fields of a helm.v3.Release that install `chart` into an existing namespace (values are added by the caller). */
export function helmReleaseArgs<Namespace, Secret = string>(chart: Omit<HelmReleaseSpec, "values">, namespace: Namespace,
    auth: ChartRepositoryAuth<Secret> = {}) {
    const login = Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)) as ChartRepositoryAuth<Secret>;
    return {
        name: chart.name, chart: chart.chart, version: chart.version,
        // OCI charts have no repo; a login applies to both kinds (the provider hands it to Helm's getters).
        repositoryOpts: { ...(chart.repo === "" ? {} : { repo: chart.repo }), ...login },
        namespace, createNamespace: false,
    };
}
