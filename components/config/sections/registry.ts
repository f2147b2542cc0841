// privateRegistry (+ the secret privateRegistryPassword): where images come from.
import * as pulumi from "@pulumi/pulumi";
import { PrivateRegistry } from "../types";
import { ConfigReader } from "../reader";

export function parseRegistry(r: ConfigReader, raw: Record<string, unknown>): PrivateRegistry | undefined {
    if (raw.privateRegistry === undefined) {
        if (raw.privateRegistryPassword !== undefined) {
            r.err("privateRegistryPassword", "set, but privateRegistry.url is not; set the registry or remove the password");
        }
        return undefined;
    }
    const o = r.obj(raw, "privateRegistry");
    const url = r.str(o, "url", { key: "privateRegistry.url", required: true });
    if (url !== undefined && (/\s|^https?:\/\//.test(url) || url.length === 0)) {
        r.err("privateRegistry.url", `"${url}" must be a registry host[:port], without a scheme (e.g. registry.example.com:5000)`);
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
