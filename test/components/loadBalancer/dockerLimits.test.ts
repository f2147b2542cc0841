// docker mode: the container's open-files limit follows worker_rlimit_nofile (nginx can raise its own limit only up
// to the container's hard limit), and is part of the container's spec (a new limit means a new container).
import { strict as assert } from "assert";
import { lbApplyScript, lbScriptOptions } from "../../../components/loadBalancer/scripts";
import { parseConfig } from "../../../components/config";
import { HOST_KEYS } from "../../fixtures/hostKeys";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
const lbOf = (lb: Record<string, unknown>) => parseConfig({
    hostname: "rancher.example.com", ssh: { user: "rancher" }, sshPrivateKey: KEY, rancher: { chartRepo: "prime" },
    loadBalancer: { address: "192.0.2.10", hostKey: HOST_KEYS[0], ...lb },
    nodes: [11, 12, 13].map((n, i) => ({ address: `192.0.2.${n}`, roles: ["controlplane", "etcd", "worker"], hostKey: HOST_KEYS[i + 1] })),
}, { homeDir: "/home/op" }).settings.loadBalancer;

describe("loadBalancer: docker mode's open-files limit", () => {
    it("sets --ulimit nofile to worker_rlimit_nofile, and a new limit makes a new container spec", () => {
        const lb = lbOf({});
        const o = lbScriptOptions(lb, "a".repeat(64));
        assert.equal(o.nofileLimit, lb.workerRlimitNofile);
        const script = lbApplyScript(o);
        assert.ok(script.includes(`--ulimit nofile=${lb.workerRlimitNofile}:${lb.workerRlimitNofile}`), "docker create gets the limit");
        const spec = (text: string) => /SPEC=(\S+)/.exec(text)![1];
        const bigger = lbApplyScript({ ...o, nofileLimit: 400000 });
        assert.notEqual(spec(bigger), spec(script));
        assert.ok(bigger.includes("--ulimit nofile=400000:400000"));
        assert.throws(() => lbApplyScript({ ...o, nofileLimit: 100 }), /nofileLimit must be a whole number from 1024 to 1048576/);
    });

    it("system mode leaves limits to the distribution's nginx unit (worker_rlimit_nofile raises them)", () => {
        assert.equal(lbScriptOptions(lbOf({ mode: "system" }), "a".repeat(64)).nofileLimit, undefined);
    });
});
