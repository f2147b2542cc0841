// Loopback port helpers shared by the tests (and bench/lb.ts) that start real servers.
import { ChildProcess } from "child_process";
import * as net from "net";

/** A port the kernel says is free on `host` right now. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, host, () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

/** A port free on every given address (so one backend port works on 127.0.0.2, .3 and .4). */
export async function portFreeOn(hosts: string[]): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
        const port = 20000 + Math.floor(Math.random() * 40000);
        const ok = await Promise.all(hosts.map(h => new Promise<boolean>(resolve => {
            const s = net.createServer();
            s.once("error", () => resolve(false));
            s.listen(port, h, () => s.close(() => resolve(true)));
        })));
        if (ok.every(Boolean)) {
            return port;
        }
    }
    throw new Error(`no port free on all of ${hosts.join(", ")}`);
}

/**
 * Waits until something accepts connections on host:port, failing early when `proc` (the server) exits.
 * `describe` names the server and adds its log to the error.
 */
export async function waitForListen(port: number, proc: ChildProcess, describe: () => string,
    deadlineMs = 10000, host = "127.0.0.1"): Promise<void> {
    const end = Date.now() + deadlineMs;
    while (Date.now() < end) {
        if (proc.exitCode !== null) {
            throw new Error(`exited with ${proc.exitCode}: ${describe()}`);
        }
        const ok = await new Promise<boolean>(resolve => {
            const s = net.connect(port, host);
            s.once("connect", () => { s.destroy(); resolve(true); });
            s.once("error", () => resolve(false));
        });
        if (ok) {
            return;
        }
        await new Promise(r => setTimeout(r, 50));
    }
    throw new Error(`nothing listens on ${host}:${port} after ${deadlineMs} ms: ${describe()}`);
}
