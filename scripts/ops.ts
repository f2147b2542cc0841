// npm run ops -- <command> --stack <name> [options]: day-2 operations on a rancher-ha cluster, as explicit commands
// (never a side effect of pulumi up). Each command runs what the stack's distribution needs (rke: rke on the admin
// host; rke2: node by node, scripts/ops/rke2Commands.ts), or says why it has nothing to do there. See docs/operations.md.
import { COMMON_OPTIONS, parseArgs, OptionSpec } from "./ops/args";
import * as cmd from "./ops/commands";
import * as rke2 from "./ops/rke2Commands";
import { drift } from "./ops/drift";
import { lbStatus } from "./ops/lbStatus";
import { backupNow, migrateCheck } from "./ops/backup";
import { foreignOptionMessage, stackDistribution } from "./ops/distribution";
import { readStackFile } from "./stackFile";

/** One distribution's implementation of a command. */
interface Impl {
    run: (o: ReturnType<typeof parseArgs>["options"], io: cmd.Io) => Promise<number>;
    options: Record<string, OptionSpec>;
    usage: string;
    /** Why each option of the other distribution's implementation does not apply here. */
    foreign?: Record<string, string>;
}

/**
 * A command per distribution (the stack's `distribution` picks one): its own implementation, the same one when the
 * command does not depend on it, or why it has none there.
 */
interface CommandDef {
    rke: Impl;
    rke2: Impl | { refuse: string };
}

const driftImpl: Impl = {
    run: (o, io) => drift(o, io), options: { kubeconfig: { value: true } },
    usage: "[--kubeconfig <file>]   compare the hosts (LB, admin work dir or RKE2 nodes) and the Helm releases with the stack: exit 0 none, 3 drift, 1 a check failed",
};
const hostKeysImpl: Impl = {
    run: cmd.hostKeys, options: {},
    usage: "   scan every host's SSH host key, print fingerprints to check and the pulumi config set lines that pin them (exit 3: a key differs)",
};
const agentsRedeployImpl: Impl = {
    run: cmd.agentsRedeploy,
    options: { kubeconfig: { value: true }, "ca-file": { value: true }, "rancher-url": { value: true }, manifest: { value: true }, "dry-run": {} },
    usage: "--kubeconfig <file> [--ca-file <pem> | --rancher-url <url>] [--manifest <file>] [--dry-run]   CATTLE_CA_CHECKSUM of the agents",
};
const lbStatusImpl: Impl = {
    run: lbStatus, options: {},
    usage: "   each LB host: nginx listening, the health checker's view of every node:port, its recent decisions, who holds the virtual IP (exit 3: a node is out or a service is down)",
};
const backupNowImpl: Impl = {
    run: (o, io) => backupNow(o, io), options: { kubeconfig: { value: true }, "timeout-minutes": { value: true } },
    usage: "--kubeconfig <file> [--timeout-minutes N]   one-time Backup of Rancher (rancher-backup operator) to the stack's bucket; prints the file and the restoreFrom lines",
};
const migrateCheckImpl: Impl = {
    run: (o, io) => migrateCheck(o, io), options: { from: { value: true }, to: { value: true }, "from-kubeconfig": { value: true }, "to-kubeconfig": { value: true } },
    usage: "--from <old stack> [--from-kubeconfig <file>] [--to-kubeconfig <file>]   (--to or --stack: the new stack) go/NO-GO per item of a migration by backup and restore (exit 3: a NO-GO)",
};
const NO_RKE_STATE = "RKE2 keeps no state file on an admin host; the kubeconfig stays on the servers (read it into the stack with a new admin.stateSync and pulumi up)";

const COMMANDS: Record<string, CommandDef> = {
    "snapshot-save": {
        rke: {
            run: cmd.snapshotSave, options: { name: { value: true }, overwrite: {} },
            usage: "--name <name> [--overwrite]   etcd snapshot on every etcd node (rke etcd snapshot-save)",
        },
        rke2: {
            run: rke2.rke2SnapshotSave, options: { name: { value: true } },
            usage: "--name <name>   etcd snapshot on the first server, and in S3 with etcdSnapshots.s3 (rke2 etcd-snapshot save)",
            foreign: { overwrite: "RKE2 never replaces a snapshot: each save adds a file <name>-<node>-<time>" },
        },
    },
    "snapshot-restore": {
        rke: {
            run: cmd.snapshotRestore, options: { name: { value: true }, yes: {}, "save-state": { value: true }, "save-kubeconfig": { value: true } },
            usage: "--name <name> --yes [--save-state <file>] [--save-kubeconfig <file>]   roll the cluster back (rke etcd snapshot-restore)",
        },
        rke2: {
            run: rke2.rke2SnapshotRestore, options: { name: { value: true }, yes: {} },
            usage: "--name <snapshot> --yes   roll the cluster back: every node stopped, cluster reset on the first server, the others rejoin one at a time",
            foreign: { "save-state": NO_RKE_STATE, "save-kubeconfig": NO_RKE_STATE },
        },
    },
    "cert-rotate": {
        rke: {
            run: cmd.certRotate,
            options: { service: { value: true, repeat: true }, "rotate-ca": {}, yes: {}, "save-state": { value: true }, "save-kubeconfig": { value: true } },
            usage: "[--service <s>]... [--rotate-ca --yes] [--save-state <file>] [--save-kubeconfig <file>]   rke cert rotate",
            foreign: { node: "rke cert rotate renews the certificates of the whole cluster from the admin host" },
        },
        rke2: {
            run: rke2.rke2CertRotate, options: { node: { value: true, repeat: true }, yes: {} },
            usage: "--yes [--node <server address>]...   rke2 certificate rotate, server by server (each Ready before the next)",
            foreign: {
                service: "rke2 certificate rotate renews every component certificate of a server",
                "rotate-ca": "RKE2's CA rotation (rke2 certificate rotate-ca) is a manual procedure, see docs.rke2.io",
                "save-state": NO_RKE_STATE, "save-kubeconfig": NO_RKE_STATE,
            },
        },
    },
    recover: {
        rke: {
            run: cmd.recover,
            options: {
                from: { value: true }, port: { value: true }, user: { value: true }, "keep-system-images": {}, write: {}, replace: {},
                "kubeconfig-out": { value: true },
            },
            usage: "--from <controlplane address> [--user <u>] [--port <p>] [--keep-system-images] [--write] [--replace] [--kubeconfig-out <file>]   adopt a cluster from its full-cluster-state",
        },
        rke2: { refuse: cmd.RECOVER_ON_RKE2 },
    },
    "restore-workdir": {
        rke: {
            run: cmd.restoreWorkdir, options: { replace: {} },
            usage: "[--replace] < state   put rancher-cluster.yml, keys/ and the piped state back in the admin work dir",
        },
        rke2: { refuse: cmd.RESTORE_WORKDIR_ON_RKE2 },
    },
    "remove-cluster": {
        rke: {
            run: cmd.removeCluster, options: { yes: {} },
            usage: "--yes   WIPE the cluster (rke remove --force) and the files rancher-ha kept; pulumi destroy never does unless admin.removeClusterOnDestroy",
        },
        rke2: {
            run: rke2.rke2RemoveCluster, options: { yes: {} },
            usage: "--yes   WIPE the cluster: rke2-uninstall.sh on every node, agents first, servers last to first",
        },
    },
    "cert-status": {
        rke: {
            run: cmd.certStatus, options: {},
            usage: "   expiry of the cluster's certificates from the state file on the admin host (exit 3: one expires within 30 days)",
        },
        rke2: {
            run: rke2.rke2CertStatus, options: {},
            usage: "   expiry of every node's RKE2 certificates, read with openssl (exit 3: one expires within 30 days)",
        },
    },
    "host-keys": { rke: hostKeysImpl, rke2: hostKeysImpl },
    drift: { rke: driftImpl, rke2: driftImpl },
    "lb-status": { rke: lbStatusImpl, rke2: lbStatusImpl },
    "agents-redeploy": { rke: agentsRedeployImpl, rke2: agentsRedeployImpl },
    "backup-now": { rke: backupNowImpl, rke2: backupNowImpl },
    "migrate-check": { rke: migrateCheckImpl, rke2: migrateCheckImpl },
};

/** Both implementations' lines, or the one when they are the same. */
function usageLines(name: string, def: CommandDef): string[] {
    if (!("run" in def.rke2) || def.rke2 === def.rke) {
        return [`  ${name} ${def.rke.usage}${"refuse" in def.rke2 ? "   (rke only)" : ""}`];
    }
    return [`  ${name} ${def.rke.usage}   (rke)`, `  ${name} ${def.rke2.usage}   (rke2)`];
}

function usage(): string {
    return "usage: npm run ops -- <command> --stack <name> [--cwd <project dir>] [--identity <key file>] [--ssh-option <opt>]... [options]\n" +
        "(each command does what the stack's distribution needs: rke or rke2)\n\n" +
        Object.entries(COMMANDS).flatMap(([n, c]) => usageLines(n, c)).map(l => `${l}\n`).join("");
}

/** What a run reads and writes besides its arguments (tests pass their own). */
export const processIo: cmd.Io = {
    out: s => process.stdout.write(s),
    err: s => process.stderr.write(s),
    stdinIsTty: process.stdin.isTTY === true,
    readStdin: () => new Promise(resolve => {
        let data = "";
        process.stdin.setEncoding("utf8");
        process.stdin.on("data", d => (data += d));
        process.stdin.on("end", () => resolve(data));
    }),
};

/** One ops command; the exit code. */
export async function main(argv: string[], io: cmd.Io = processIo): Promise<number> {
    const name = argv[0];
    const def = name ? COMMANDS[name] : undefined;
    if (!def) {
        io.err(`${name && name !== "help" && name !== "--help" ? `unknown command "${name}"\n` : ""}${usage()}`);
        return name && name !== "help" && name !== "--help" ? 1 : 0;
    }
    try {
        // Both distributions' options parse (a typo is still an error); the stack's decides which apply.
        const rke2Impl = "run" in def.rke2 ? def.rke2 : undefined;
        const { options } = parseArgs(argv, { ...def.rke.options, ...rke2Impl?.options });
        if (options.help) {
            io.out(usageLines(name, def).map(l => `npm run ops -- ${l.trim().replace(new RegExp(`^${name} `), `${name} --stack <name> `)}\n`).join(""));
            return 0;
        }
        // migrate-check names its stacks --from <old> --to <new>: --to is the stack it runs for.
        if (name === "migrate-check" && options.stack === undefined && typeof options.to === "string") {
            options.stack = options.to;
        }
        const stack = cmd.stackName(options);
        const distribution = stackDistribution(readStackFile(cmd.cwdOf(options), stack).raw);
        const impl = distribution === "rke2" ? def.rke2 : def.rke;
        if ("refuse" in impl) {
            throw new cmd.OpsError(`stack ${stack} is distribution rke2: ${impl.refuse.replace(/<stack>/g, stack)}`);
        }
        for (const option of Object.keys(options)) {
            if (!(option in COMMON_OPTIONS) && !(option in impl.options)) {
                throw new cmd.OpsError(foreignOptionMessage(name, option, stack, distribution, impl.foreign?.[option] ?? `it takes ${
                    Object.keys(impl.options).map(k => `--${k}`).join(", ") || "no options of its own"}`));
            }
        }
        return await impl.run(options, io);
    } catch (e) {
        // Config errors and user mistakes: one message, no stack trace.
        io.err(`rancher-ha ops ${name}: ${(e as Error).message}\n`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(code => { process.exitCode = code; });
}
