// npm run ops -- <command> --stack <name> [options]: day-2 operations on a rancher-ha cluster, as explicit commands
// (never a side effect of pulumi up). See docs/operations.md.
import { parseArgs, OptionSpec } from "./ops/args";
import * as cmd from "./ops/commands";
import { drift } from "./ops/drift";

interface CommandDef {
    run: (o: ReturnType<typeof parseArgs>["options"], io: cmd.Io) => Promise<number>;
    options: Record<string, OptionSpec>;
    usage: string;
}

const COMMANDS: Record<string, CommandDef> = {
    "snapshot-save": {
        run: cmd.snapshotSave, options: { name: { value: true }, overwrite: {} },
        usage: "--name <name> [--overwrite]   etcd snapshot on every etcd node (rke etcd snapshot-save)",
    },
    "snapshot-restore": {
        run: cmd.snapshotRestore, options: { name: { value: true }, yes: {}, "save-state": { value: true }, "save-kubeconfig": { value: true } },
        usage: "--name <name> --yes [--save-state <file>] [--save-kubeconfig <file>]   roll the cluster back (rke etcd snapshot-restore)",
    },
    "cert-rotate": {
        run: cmd.certRotate,
        options: { service: { value: true, repeat: true }, "rotate-ca": {}, yes: {}, "save-state": { value: true }, "save-kubeconfig": { value: true } },
        usage: "[--service <s>]... [--rotate-ca --yes] [--save-state <file>] [--save-kubeconfig <file>]   rke cert rotate",
    },
    recover: {
        run: cmd.recover,
        options: {
            from: { value: true }, port: { value: true }, user: { value: true }, "keep-system-images": {}, write: {}, replace: {},
            "kubeconfig-out": { value: true },
        },
        usage: "--from <controlplane address> [--user <u>] [--port <p>] [--keep-system-images] [--write] [--replace] [--kubeconfig-out <file>]   adopt a cluster from its full-cluster-state",
    },
    "restore-workdir": {
        run: cmd.restoreWorkdir, options: { replace: {} },
        usage: "[--replace] < state   put rancher-cluster.yml, keys/ and the piped state back in the admin work dir",
    },
    "remove-cluster": {
        run: cmd.removeCluster, options: { yes: {} },
        usage: "--yes   WIPE the cluster (rke remove --force) and the files rancher-ha kept; pulumi destroy never does unless admin.removeClusterOnDestroy",
    },
    "cert-status": {
        run: cmd.certStatus, options: {},
        usage: "   expiry of the cluster's certificates from the state file on the admin host (exit 3: one expires within 30 days)",
    },
    "host-keys": {
        run: cmd.hostKeys, options: {},
        usage: "   scan every host's SSH host key, print fingerprints to check and the pulumi config set lines that pin them (exit 3: a key differs)",
    },
    drift: {
        run: (o, io) => drift(o, io), options: { kubeconfig: { value: true } },
        usage: "[--kubeconfig <file>]   compare the hosts (LB config and nginx, admin work dir) and the Helm releases with the stack: exit 0 none, 3 drift, 1 a check failed",
    },
    "agents-redeploy": {
        run: cmd.agentsRedeploy,
        options: { kubeconfig: { value: true }, "ca-file": { value: true }, "rancher-url": { value: true }, manifest: { value: true }, "dry-run": {} },
        usage: "--kubeconfig <file> [--ca-file <pem> | --rancher-url <url>] [--manifest <file>] [--dry-run]   CATTLE_CA_CHECKSUM of the agents",
    },
};

function usage(): string {
    return "usage: npm run ops -- <command> --stack <name> [--cwd <project dir>] [--identity <key file>] [--ssh-option <opt>]... [options]\n\n" +
        Object.entries(COMMANDS).map(([n, c]) => `  ${n} ${c.usage}\n`).join("");
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
        const { options } = parseArgs(argv, def.options);
        if (options.help) {
            io.out(`npm run ops -- ${name} --stack <name> ${def.usage}\n`);
            return 0;
        }
        return await def.run(options, io);
    } catch (e) {
        // Config errors and user mistakes: one message, no stack trace.
        io.err(`rancher-ha ops ${name}: ${(e as Error).message}\n`);
        return 1;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(code => { process.exitCode = code; });
}
