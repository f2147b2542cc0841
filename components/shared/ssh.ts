// SSH connection settings for @pulumi/command remote resources.
import type * as command from "@pulumi/command";
import type { SshTarget } from "../config/types";

/**
 * Connection for a host, through the bastion when one is configured. The private keys are secrets, and
 * the provider marks the whole connection secret in state. Each hop pins its host key: without one the provider
 * accepts any host (InsecureIgnoreHostKey); with one it also offers only that key's algorithm, hence ed25519.
 */
export function sshConnection(target: SshTarget, bastion?: SshTarget): command.types.input.remote.ConnectionArgs {
    return {
        host: target.address,
        port: target.port,
        user: target.user,
        privateKey: target.privateKey,
        hostKey: target.hostKey,
        // Hosts that are rebooting or still booting get a few tries before the step fails.
        dialErrorLimit: 10,
        perDialTimeout: 15,
        proxy: bastion && {
            host: bastion.address,
            port: bastion.port,
            user: bastion.user,
            privateKey: bastion.privateKey,
            hostKey: bastion.hostKey,
            dialErrorLimit: 10,
            perDialTimeout: 15,
        },
    };
}

/** `user@host:port`, for messages. */
export function describeTarget(t: SshTarget): string {
    return `${t.user}@${t.address}:${t.port}`;
}

