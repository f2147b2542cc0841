// privateRegistry (+ the secret privateRegistryPassword): where images come from.
import * as pulumi from "@pulumi/pulumi";
import { PrivateRegistry } from "../types";
import { ConfigReader } from "../reader";
import { isHostname, isIp, shown } from "../names";

export function parseRegistry(r: ConfigReader, raw: Record<string, unknown>): PrivateRegistry | undefined {
    if (raw.privateRegistry === undefined) {
        if (raw.privateRegistryPassword !== undefined) {
            r.err("privateRegistryPassword", "set, but privateRegistry.url is not; set the registry or remove the password");
        }
        return undefined;
    }
    const o = r.obj(raw, "privateRegistry");
    const url = r.str(o, "url", { key: "privateRegistry.url", required: true });
    if (url !== undefined && !isRegistryHost(url)) {
        r.err("privateRegistry.url", `${shown(url)} must be a registry host[:port], without a scheme or path ` +
            "(e.g. registry.example.com:5000)");
    }
    const user = r.str(o, "user", { key: "privateRegistry.user" });
    const password = r.secretStr(raw, "privateRegistryPassword");
    if ((user === undefined) !== (password === undefined)) {
        r.err("privateRegistry.user", "privateRegistry.user and the secret privateRegistryPassword go together; set both or neither");
    }
    return url === undefined ? undefined : {
        url,
        user,
        password: password === undefined ? undefined : pulumi.secret(password),
        isDefault: r.bool(o, "isDefault", "privateRegistry.isDefault") ?? true,
    };
}

/** host[:port] (an IPv6 address in brackets): how RKE, Docker and Rancher's systemDefaultRegistry name a registry. */
function isRegistryHost(s: string): boolean {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^:/\s]+)(?::(\d{1,5}))?$/.exec(s);
    if (!m) {
        return false;
    }
    const host = m[1].startsWith("[") ? m[1].slice(1, -1) : m[1];
    const port = m[2] === undefined ? 1 : Number(m[2]);
    return port >= 1 && port <= 65535 && (m[1].startsWith("[") ? isIp(host) : isIp(host) || isHostname(host) || host === "localhost");
}
