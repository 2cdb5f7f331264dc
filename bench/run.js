#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// The benchmark driver (bench/README.md has the contract with the programs). For every
// implementation that is built (nipc, node-ipc, zmq, raw), every transport (unix, tcp, and
// tls for nipc and node-ipc with certificates made once per run) and every benchmark it starts a server, waits for its `ready` line, starts the client, reads
// the JSON lines both print, checks them and kills what is left. Several runs per cell give
// a median and a min–max range; the tables put nipc next to node-ipc (and the raw floor)
// measured in the same invocation. Any failed run (no result, an error line, a non-zero
// exit, a count that does not match, a timeout) shows as FAIL and makes the exit status 1.
//
//   node bench/run.js [--smoke] [--runs N] [--only REGEX] [--json FILE] [--build-dir DIR]
//                     [--require LIST] [--timeout S] [--target S] [--list]
//
// Node >= 20, no npm dependencies (node-ipc itself is loaded by bench/node/bench_nodeipc.js).
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { loadShapes, frameBytes } = require('./node/shapes.js');

const ROOT = path.resolve(__dirname, '..');
const SHAPES_FILE = path.join(ROOT, 'bench', 'shapes.json'); // the echo test's payloads

const USAGE = `usage: node bench/run.js [options]
  --smoke          one run per cell, small fixed counts (about a second per benchmark),
                   broadcast to 10 clients, idle with 100, 200 handshakes, no 1 MiB sweep
                   (20 raw writes of 1 MiB), echo for a few shapes only
  --runs N         runs per cell (default 3; 1 with --smoke); median and min–max
  --only REGEX     run only the cells whose key matches (case-insensitive), keys being
                   BENCH/TRANSPORT/IMPL, e.g. throughput/unix/nipc, sweep-64k/tcp/raw,
                   raw-1m/unix/node-ipc, handshakes/tls/node-ipc, echo-rows/tcp/zmq
                   ('^echo-': the echo test for every shape of bench/shapes.json)
                   (--list shows them all)
  --json FILE      write every run's raw lines and derived numbers to FILE
  --build-dir DIR  the CMake build tree holding bench/bench_* (default: build, or
                   $NIPC_BUILD_DIR)
  --require LIST   comma-separated implementations that must be available (else exit 1)
  --timeout S      per-run timeout in seconds (default 180; 60 with --smoke)
  --target S       calibrate counts so a run lasts about S seconds (default 2; not smoke)
  --list           print the cell keys that would run, and exit
  -h, --help       this text`;

// ---- options ------------------------------------------------------------------------------

function parseArgs(argv) {
    const o = {
        smoke: false, runs: null, only: null, json: null, list: false,
        buildDir: process.env.NIPC_BUILD_DIR || path.join(ROOT, 'build'),
        require: [], timeout: null, target: 2,
    };
    const need = (i, name) => {
        if (i + 1 >= argv.length) die(`${name} needs a value\n${USAGE}`);
        return argv[i + 1];
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        switch (a) {
        case '--smoke': o.smoke = true; break;
        case '--list': o.list = true; break;
        case '--runs': o.runs = posInt(need(i, a), a); i++; break;
        case '--only': o.only = need(i, a); i++; break;
        case '--json': o.json = need(i, a); i++; break;
        case '--build-dir': o.buildDir = path.resolve(need(i, a)); i++; break;
        case '--require':
            o.require = need(i, a).split(',').map((s) => s.trim()).filter(Boolean); i++; break;
        case '--timeout': o.timeout = posNum(need(i, a), a); i++; break;
        case '--target': o.target = posNum(need(i, a), a); i++; break;
        case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
        default: die(`unknown option ${a}\n${USAGE}`);
        }
    }
    if (o.runs === null) o.runs = o.smoke ? 1 : 3;
    if (o.timeout === null) o.timeout = o.smoke ? 60 : 180;
    if (o.only !== null) {
        let re;
        try {
            re = new RegExp(o.only, 'i');
        } catch {
            const s = o.only.toLowerCase();
            re = { test: (k) => k.toLowerCase().includes(s) };
        }
        o.onlyRe = re;
    }
    return o;
}

function posInt(v, name) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) die(`${name}: want a positive integer, got '${v}'`);
    return n;
}

function posNum(v, name) {
    const n = Number(v);
    if (!(n > 0)) die(`${name}: want a positive number, got '${v}'`);
    return n;
}

function die(msg) {
    process.stderr.write(`run.js: ${msg}\n`);
    process.exit(2);
}

// ---- the machine --------------------------------------------------------------------------

function machineInfo() {
    let cpu = os.cpus()[0]?.model || 'unknown';
    try {
        const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
        if (m) cpu = m[1].trim();
    } catch { /* not Linux */ }
    return {
        nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
        cpu,
        kernel: `${os.type()} ${os.release()}`,
        arch: os.arch(),
        node: process.version,
        mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
        date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
}

function findTaskset() {
    for (const dir of (process.env.PATH || '/usr/bin:/bin').split(':')) {
        const p = path.join(dir || '.', 'taskset');
        try {
            fs.accessSync(p, fs.constants.X_OK);
            return p;
        } catch { /* next */ }
    }
    return null;
}

// Pinned runs need taskset, two CPUs, and CPUs 0 and 1 in our affinity mask.
function pinningAvailable(taskset, nproc) {
    if (!taskset || nproc < 2) return false;
    return [0, 1].every((c) => spawnSync(taskset, ['-c', String(c), 'true']).status === 0);
}

// The shell prefix that raises the open-file limit as far as it goes (65536, or the hard
// limit when that is lower), then execs the program.
const ULIMIT_SH = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ';

function fdLimit() {
    const r = spawnSync('sh', ['-c', ULIMIT_SH + 'ulimit -n'], { encoding: 'utf8' });
    const v = (r.stdout || '').trim();
    if (v === 'unlimited') return Infinity;
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : 1024;
}

// ---- implementations and benchmarks -------------------------------------------------------

function implementations(buildDir) {
    const bin = (n) => path.join(buildDir, 'bench', n);
    const js = path.join(ROOT, 'bench', 'node', 'bench_nodeipc.js');
    return [
        { name: 'nipc', file: bin('bench_nipc'), cmd: [bin('bench_nipc')],
            missing: 'not built' },
        // nipc with busy_poll_us = 50: latency only, where it is meant to help.
        { name: 'nipc-spin', file: bin('bench_nipc'), cmd: [bin('bench_nipc')],
            args: ['--busy-poll', '50'], kinds: ['latency'], transports: ['unix', 'tcp'], missing: 'not built' },
        { name: 'node-ipc', file: js, cmd: [process.execPath, js],
            missing: 'bench/node/bench_nodeipc.js not found' },
        // ZeroMQ and the floor have no TLS.
        { name: 'zmq', file: bin('bench_zmq'), cmd: [bin('bench_zmq')], transports: ['unix', 'tcp'],
            missing: 'not built; needs libzmq3-dev, see scripts/deps.sh --bench' },
        { name: 'raw', file: bin('bench_raw'), cmd: [bin('bench_raw')], transports: ['unix', 'tcp'],
            missing: 'not built' },
        // The raw floor waiting in epoll_wait before each read, as an event loop does.
        { name: 'raw-epoll', file: bin('bench_raw'), cmd: [bin('bench_raw')],
            args: ['--wait', 'epoll'], kinds: ['latency'], transports: ['unix', 'tcp'], missing: 'not built' },
    ].map((impl) => {
        let ok = false;
        try {
            fs.accessSync(impl.file, impl.name === 'node-ipc' ? fs.constants.R_OK : fs.constants.X_OK);
            ok = true;
        } catch { /* missing */ }
        return { ...impl, available: ok };
    });
}

const KiB = 1024;
const MiB = 1024 * 1024;

// kind: stream (server measures), latency, broadcast (client measures), idle, startup.
// smoke: the fixed count with --smoke (null: not run with --smoke); c0: the first count the
// calibration tries in a full run; cmin, cmax: the fewest (default c0 / 10; latency keeps
// 2000 round trips so that p99.9 means something) and the most it will use; payload: the
// payload bytes of an event when --size does not give them (eight doubles: 64 bytes);
// transports: where it runs (default unix and tcp; tls only where listed); impls: who runs it
// (default everyone); shape: the echo test's shape, by its name in bench/shapes.json.
const ALL = ['unix', 'tcp', 'tls'];
const RAW = ['nipc', 'node-ipc', 'raw'];
const ECHO = ['nipc', 'node-ipc', 'zmq'];
const WORLD = ['nipc', 'node-ipc'];
// The shapes the smoke run echoes: the baseline, numbers, the shape that changes every event
// and the long string.
const ECHO_SMOKE = ['small', 'fractions', 'rotate', 'string4k'];
function benchmarks(pinned, shapes) {
    const list = [
        { id: 'throughput', kind: 'stream', test: 'throughput', transports: ALL, smoke: 20000, c0: 20000, cmax: 50e6 },
        { id: 'sweep-16', kind: 'stream', test: 'sweep', size: 16, smoke: 20000, c0: 20000, cmax: 50e6 },
        { id: 'sweep-1k', kind: 'stream', test: 'sweep', size: KiB, smoke: 5000, c0: 5000, cmax: 20e6 },
        { id: 'sweep-64k', kind: 'stream', test: 'sweep', size: 64 * KiB, smoke: 200, c0: 200, cmax: 500e3 },
        { id: 'sweep-1m', kind: 'stream', test: 'sweep', size: MiB, transports: ALL, smoke: null, c0: 20, cmax: 30e3 },
        { id: 'sweep-doubles', kind: 'stream', test: 'doubles', payload: 64, smoke: 20000, c0: 20000, cmax: 50e6 },
        // Raw mode: one-way writes of --size bytes, no framing (ZeroMQ has no such mode).
        { id: 'raw-16', kind: 'stream', test: 'raw', size: 16, impls: RAW, smoke: 20000, c0: 20000, cmax: 1e9 },
        { id: 'raw-1k', kind: 'stream', test: 'raw', size: KiB, impls: RAW, smoke: 5000, c0: 5000, cmax: 50e6 },
        { id: 'raw-64k', kind: 'stream', test: 'raw', size: 64 * KiB, impls: RAW, smoke: 200, c0: 200, cmax: 1e6 },
        { id: 'raw-1m', kind: 'stream', test: 'raw', size: MiB, impls: RAW, smoke: 20, c0: 20, cmax: 30e3 },
        // node-ipc's basic world server (examples/world, bench/node/world.js) answering a
        // client (bench_nipc) with its log on, as both have it by default, with the payloads
        // in nipc's log too (node-ipc 10 always logs them), and silent; the client measures.
        { id: 'world-log', kind: 'world', test: 'world', log: 'on', transports: ['unix'], impls: WORLD, smoke: 2000, c0: 5000, cmax: 20e6 },
        { id: 'world-payloads', kind: 'world', test: 'world', log: 'payloads', transports: ['unix'], impls: WORLD, smoke: null, c0: 5000, cmax: 20e6 },
        { id: 'world-silent', kind: 'world', test: 'world', log: 'silent', transports: ['unix'], impls: WORLD, smoke: 2000, c0: 5000, cmax: 20e6 },
        // Events echoed, one per shape; the client measures.
        ...shapes.map((sh) => ({
            id: `echo-${sh.name}`, kind: 'echo', test: 'echo', shape: sh, impls: ECHO,
            smoke: ECHO_SMOKE.includes(sh.name) ? 2000 : null, c0: 5000, cmax: 20e6,
        })),
    ];
    if (pinned) {
        list.push(
            { id: 'latency-same', kind: 'latency', test: 'latency', core: 'same', transports: ALL, smoke: 2000, c0: 2000, cmin: 2000, cmax: 10e6 },
            { id: 'latency-cross', kind: 'latency', test: 'latency', core: 'cross', transports: ALL, smoke: 2000, c0: 2000, cmin: 2000, cmax: 10e6 });
    } else {
        list.push(
            { id: 'latency', kind: 'latency', test: 'latency', core: 'unpinned', transports: ALL, smoke: 2000, c0: 2000, cmin: 2000, cmax: 10e6 });
    }
    list.push(
        // Sequential connections, each connect (+ TLS handshake) + one round trip + close.
        { id: 'handshakes', kind: 'handshakes', test: 'handshakes', transports: ['tcp', 'tls'],
            impls: ['nipc', 'node-ipc'], smoke: 200, c0: 200, cmax: 200e3 },
        { id: 'broadcast-10', kind: 'broadcast', test: 'broadcast', clients: 10, smoke: 2000, c0: 1000, cmax: 10e6 },
        { id: 'broadcast-100', kind: 'broadcast', test: 'broadcast', clients: 100, smoke: null, c0: 200, cmax: 1e6 },
        { id: 'broadcast-1000', kind: 'broadcast', test: 'broadcast', clients: 1000, smoke: null, c0: 20, cmax: 100e3 },
        { id: 'idle-100', kind: 'idle', test: 'idle', clients: 100, smoke: true },
        { id: 'idle-1000', kind: 'idle', test: 'idle', clients: 1000, smoke: null },
        { id: 'idle-10000', kind: 'idle', test: 'idle', clients: 10000, smoke: null },
        // Startup times a server that only accepts: the idle test's server, with no client.
        { id: 'startup', kind: 'startup', test: 'idle', smoke: true, reps: 5 });
    return list;
}

const TRANSPORTS = ['unix', 'tcp', 'tls'];

// ---- processes ----------------------------------------------------------------------------

class BenchFail extends Error {}

const live = new Set(); // every child not yet closed, for the exit handlers
const tmpDirs = new Set(); // every temporary directory not yet removed

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function killGroup(child, sig) {
    try {
        process.kill(-child.pid, sig); // detached: the child leads its own process group
    } catch {
        try { child.kill(sig); } catch { /* gone */ }
    }
}

// One spawned program: its JSON lines, the tail of its stderr, how it ended.
class Proc {
    // stdoutFd: a descriptor the program's stdout goes to (its lines are then not read).
    constructor(role, argv, onJson, onClose, stdoutFd = null) {
        this.role = role;
        this.argv = argv;
        this.lines = [];    // parsed JSON objects, in order
        this.other = [];    // stdout lines that are not JSON
        this.stderr = '';
        this.code = undefined;
        this.signal = undefined;
        this.killedByUs = false;
        this.spawnedAt = nowMs();
        this.waiters = [];
        this.child = spawn(argv[0], argv.slice(1), {
            stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'], detached: true, env: process.env,
        });
        live.add(this);
        let buf = '';
        if (stdoutFd === null) {
            this.child.stdout.setEncoding('utf8');
            this.child.stdout.on('data', (chunk) => {
                buf += chunk;
                let nl;
                while ((nl = buf.indexOf('\n')) >= 0) {
                    const line = buf.slice(0, nl).trim();
                    buf = buf.slice(nl + 1);
                    if (line) this.line(line, onJson);
                }
            });
        }
        this.child.stderr.setEncoding('utf8');
        this.child.stderr.on('data', (chunk) => {
            this.stderr = (this.stderr + chunk).slice(-4000);
        });
        this.closed = new Promise((resolve) => {
            const done = (code, signal) => {
                if (this.code !== undefined) return;
                if (buf.trim()) this.line(buf.trim(), onJson);
                this.code = code;
                this.signal = signal;
                live.delete(this);
                for (const w of this.waiters.splice(0)) w.onClose();
                onClose(this);
                resolve();
            };
            this.child.on('error', (err) => {
                this.stderr += `\nspawn failed: ${err.message}`;
                done(127, null);
            });
            this.child.on('close', done);
        });
    }

    get pid() { return this.child.pid; }
    get exited() { return this.code !== undefined; }

    line(text, onJson) {
        let obj;
        try {
            obj = JSON.parse(text);
        } catch {
            this.other.push(text.slice(0, 500));
            return;
        }
        if (obj === null || typeof obj !== 'object') {
            this.other.push(text.slice(0, 500));
            return;
        }
        obj.t_ms = nowMs();
        this.lines.push(obj);
        onJson(this, obj);
        for (const w of this.waiters.slice()) w.onLine(obj);
    }

    // Resolves with the first line (already seen or to come) that matches `pred`; rejects
    // when the program ends without one.
    waitFor(pred, what) {
        const seen = this.lines.find(pred);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => {
            if (this.exited) {
                reject(new BenchFail(`${this.role} ${this.describeExit()} without ${what}`));
                return;
            }
            const w = {
                onLine: (obj) => {
                    if (!pred(obj)) return;
                    this.waiters.splice(this.waiters.indexOf(w), 1);
                    resolve(obj);
                },
                onClose: () => reject(new BenchFail(`${this.role} ${this.describeExit()} without ${what}`)),
            };
            this.waiters.push(w);
        });
    }

    describeExit() {
        if (this.signal) return `died of ${this.signal}`;
        return `exited ${this.code}`;
    }

    // SIGTERM to its process group, SIGKILL 2 s later.
    async stop() {
        if (this.exited) return;
        this.killedByUs = true;
        killGroup(this.child, 'SIGTERM');
        const t = setTimeout(() => killGroup(this.child, 'SIGKILL'), 2000);
        // A pipe held open by something outside the group would keep 'close' from coming.
        await Promise.race([this.closed, sleep(10000)]);
        clearTimeout(t);
    }

    // Whether it ended as a benchmark program should: by itself with 0, or of our signal.
    endedBadly() {
        if (!this.exited) return null;
        if (this.code === 0) return null;
        if (this.killedByUs && (this.signal || this.code === 128 + 15 || this.code === 128 + 9)) return null;
        return this.killedByUs ? `${this.role} ${this.describeExit()} after SIGTERM` : `${this.role} ${this.describeExit()}`;
    }

    record() {
        return {
            role: this.role, argv: this.argv, lines: this.lines, other: this.other,
            code: this.code ?? null, signal: this.signal ?? null, killed: this.killedByUs,
            stderr: this.stderr,
        };
    }
}

// One run: its processes, its deadline, its first failure.
class Run {
    constructor(timeoutS) {
        this.procs = [];
        this.failure = null;
        this.skip = null;
        this.failed = new Promise((_, reject) => { this.rejectFailed = reject; });
        this.failed.catch(() => {});
        this.timer = setTimeout(() => this.fail(`timed out after ${timeoutS} s`), timeoutS * 1000);
    }

    fail(msg) {
        if (this.failure) return;
        this.failure = msg;
        this.rejectFailed(new BenchFail(msg));
    }

    spawn(role, argv, stdoutFd = null) {
        const p = new Proc(role, argv,
            (proc, obj) => {
                if (obj.ev === 'error') this.fail(`${proc.role}: ${obj.message ?? JSON.stringify(obj)}`);
                else if (obj.ev === 'skip' && !this.skip) {
                    this.skip = `${proc.role}: ${obj.message ?? 'unsupported'}`;
                    this.rejectFailed(new BenchFail('skip'));
                }
            },
            (proc) => {
                const bad = proc.killedByUs ? null : proc.endedBadly();
                if (bad) this.fail(bad);
            }, stdoutFd);
        this.procs.push(p);
        return p;
    }

    // Waits for `promise`, or fails with the run.
    wait(promise) {
        return Promise.race([promise, this.failed]);
    }

    // Lets the programs end by themselves for up to `graceMs`, then stops the rest.
    async close(graceMs) {
        clearTimeout(this.timer);
        const open = this.procs.filter((p) => !p.exited);
        if (open.length && graceMs > 0 && !this.failure && !this.skip) {
            await Promise.race([Promise.all(open.map((p) => p.closed)), sleep(graceMs)]);
        }
        await Promise.all(this.procs.map((p) => p.stop()));
        for (const p of this.procs) {
            const bad = p.endedBadly();
            if (bad) this.fail(bad);
        }
    }
}

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const n = s.length;
    return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function readRssKiB(pid) {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (!m) throw new BenchFail(`no VmRSS in /proc/${pid}/status`);
    return Number(m[1]);
}

function countFds(pid) {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// A file's size and how often `needle` occurs in it, read in pieces (a log can be large).
function countInFile(file, needle) {
    const fd = fs.openSync(file, 'r');
    const chunk = Buffer.alloc(1 << 20);
    const pat = Buffer.from(needle);
    let bytes = 0, hits = 0, carry = Buffer.alloc(0);
    try {
        for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0;) {
            bytes += n;
            const b = Buffer.concat([carry, chunk.subarray(0, n)]);
            for (let i = b.indexOf(pat); i >= 0; i = b.indexOf(pat, i + pat.length)) hits++;
            // The bytes that may start an occurrence finished by the next piece.
            carry = Buffer.from(b.subarray(Math.max(0, b.length - pat.length + 1)));
        }
    } finally {
        fs.closeSync(fd);
    }
    return { bytes, hits };
}

function lastCpuNs(proc) {
    for (let i = proc.lines.length - 1; i >= 0; i--) {
        const v = proc.lines[i].cpu_ns;
        if (typeof v === 'number' && Number.isFinite(v)) return v;
    }
    return null;
}

// A program that hit its --seconds bound may print a partial result marked timedOut.
function timedOut(role, res) {
    if (res.timedOut) throw new BenchFail(`${role} hit its --seconds bound: ${JSON.stringify(res)}`);
}

function isNum(v) {
    return typeof v === 'number' && Number.isFinite(v);
}

// ---- the driver ---------------------------------------------------------------------------

class Driver {
    constructor(opts) {
        this.o = opts;
        this.machine = machineInfo();
        this.taskset = findTaskset();
        this.pinned = pinningAvailable(this.taskset, this.machine.nproc);
        this.fdLimit = fdLimit();
        this.impls = implementations(opts.buildDir);
        let shapes;
        try {
            shapes = loadShapes(SHAPES_FILE);
        } catch (err) {
            die(err.message);
        }
        this.benches = benchmarks(this.pinned, shapes);
        this.cells = new Map(); // key -> cell
        this.notes = [];
        this.failures = [];
        this.timeoutS = opts.timeout;
    }

    // argv for one program: [sh -c ulimit...] [taskset -c CPU] program role options...
    argv(impl, role, cpu, transport, endpoint, bench, extra, rawFds) {
        let argv = [...impl.cmd, role, '--transport', transport, '--endpoint', endpoint,
            '--test', bench.test, ...extra, '--seconds', String(Math.max(this.runTimeout(bench) - 2, 1)),
            ...(transport === 'tls' ? ['--certs', this.certsDir()] : []), ...(impl.args || [])];
        if (this.pinned && cpu !== null) argv = [this.taskset, '-c', String(cpu), ...argv];
        if (rawFds) argv = ['sh', '-c', ULIMIT_SH + 'exec "$@"', 'sh', ...argv];
        return argv;
    }

    // The certificates of every tls run: test/support/certs.sh's CA, server.pem/server.key
    // for localhost and 127.0.0.1, made once per invocation, removed at exit.
    certsDir() {
        if (this.certs) return this.certs;
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-bench-certs-'));
        tmpDirs.add(dir);
        const r = spawnSync('bash', [path.join(ROOT, 'test', 'support', 'certs.sh'), dir], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`test/support/certs.sh failed: ${r.stderr || r.error}`);
        this.certs = dir;
        return dir;
    }

    // The driver's per-run timeout; the programs get a bound 2 s shorter (--seconds), so
    // that they report first.
    runTimeout(bench) {
        return bench.kind === 'idle' ? Math.max(this.timeoutS, 120) : this.timeoutS;
    }

    cpus(bench) {
        if (bench.core === 'same') return { server: 0, client: 0 };
        return { server: 0, client: 1 };
    }

    extra(bench, count) {
        const a = [];
        if (count !== undefined && count !== null) a.push('--count', String(count));
        if (bench.size) a.push('--size', String(bench.size));
        if (bench.clients) a.push('--clients', String(bench.clients));
        if (bench.shape) a.push('--shapes', SHAPES_FILE, '--shape', bench.shape.name);
        return a;
    }

    // Starts a server and waits for its ready line; returns [server, endpoint, ms to ready].
    // A server, then one client run to its result line: the round-trip tests (latency,
    // handshakes, echo). Returns the client's result, when it was started, and the server.
    async serveAndRunClient(run, impl, transport, bench, count, tmp, cpus) {
        const extra = this.extra(bench, count);
        const [server, ep] = await this.startServer(run, impl, transport, bench, extra, tmp, false);
        const t0 = nowMs();
        const client = run.spawn('client',
            this.argv(impl, 'client', cpus.client, transport, ep, bench, extra, false));
        const res = await run.wait(client.waitFor((l) => l.ev === 'result', 'a result line'));
        timedOut('client', res);
        return { t0, res, server };
    }

    // The world test: the server is the world example of its implementation, its stdout (the
    // log) a file; it prints nothing for the driver, so its socket's appearance says it is
    // ready. The client is nipc's. Once the client has its answers, SIGTERM stops the
    // server, and the log must hold a "got a message" line per event (none when silent).
    async measureWorld(run, impl, bench, count, tmp, cpus) {
        const sock = path.join(tmp, 'world.sock');
        const logFile = path.join(tmp, 'world.log');
        const flags = bench.log === 'silent' ? ['--silent'] : bench.log === 'payloads' && impl.name === 'nipc' ? ['--log-payloads'] : [];
        let argv = impl.name === 'nipc'
            ? [path.join(this.o.buildDir, 'examples', 'world'), '--path', sock, ...flags]
            : [process.execPath, path.join(ROOT, 'bench', 'node', 'world.js'), '--path', sock, ...flags];
        if (this.pinned) argv = [this.taskset, '-c', String(cpus.server), ...argv];
        const fd = fs.openSync(logFile, 'w');
        let server;
        try {
            server = run.spawn('server', argv, fd);
        } finally {
            fs.closeSync(fd);
        }
        for (const t = nowMs(); !fs.existsSync(sock); await run.wait(sleep(10))) {
            if (server.exited) throw new BenchFail(`world ${server.describeExit()} before listening`);
            if (nowMs() - t > 10000) throw new BenchFail('world made no socket in 10 s');
        }
        const nipc = this.impls.find((i) => i.name === 'nipc');
        const t0 = nowMs();
        const client = run.spawn('client',
            this.argv(nipc, 'client', cpus.client, 'unix', sock, bench, this.extra(bench, count), false));
        const res = await run.wait(client.waitFor((l) => l.ev === 'result', 'a result line'));
        timedOut('client', res);
        if (res.count !== count) throw new BenchFail(`client counted ${res.count} answers, want ${count}`);
        if (!isNum(res.seconds) || res.seconds <= 0) throw new BenchFail(`bad seconds in ${JSON.stringify(res)}`);
        await run.wait(Promise.race([client.closed, sleep(2000)]));
        await server.stop();
        const { bytes, hits } = countInFile(logFile, 'got a message');
        const want = bench.log === 'silent' ? 0 : count;
        if (hits !== want || (want === 0 && bytes !== 0)) {
            throw new BenchFail(`the log holds ${hits} "got a message" lines (${bytes} bytes), want ${want}`);
        }
        return { count, seconds: res.seconds, wall: res.t_ms - t0, rate: count / res.seconds, log_bytes: bytes };
    }

    async startServer(run, impl, transport, bench, extra, tmp, rawFds) {
        const endpoint = transport === 'unix' ? path.join(tmp, 'bench.sock') : '127.0.0.1:0';
        const net = transport !== 'unix';
        const t0 = nowMs();
        const server = run.spawn('server',
            this.argv(impl, 'server', this.cpus(bench).server, transport, endpoint, bench, extra, rawFds));
        const ready = await run.wait(server.waitFor((l) => l.ev === 'ready', 'a ready line'));
        const ms = ready.t_ms - t0;
        let ep = typeof ready.endpoint === 'string' && ready.endpoint ? ready.endpoint : endpoint;
        if (net) {
            if (/^\d+$/.test(ep)) ep = `127.0.0.1:${ep}`;
            const port = Number(ep.slice(ep.lastIndexOf(':') + 1));
            if (!(port > 0)) throw new BenchFail(`server's ready line has no port: ${JSON.stringify(ready)}`);
        }
        return [server, ep, ms];
    }

    // One run of one cell. Returns { ok, skip, error, m (numbers), procs, count }.
    async runOnce(impl, transport, bench, count) {
        const run = new Run(this.runTimeout(bench));
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-bench-'));
        tmpDirs.add(tmp);
        const rec = { count, ok: false, m: {} };
        const t0 = nowMs();
        let grace = 500;
        try {
            rec.m = await this.measure(run, impl, transport, bench, count, tmp);
        } catch (e) {
            if (!(e instanceof BenchFail)) run.fail(`driver: ${e.stack || e}`);
            else if (e.message !== 'skip') run.fail(e.message);
            grace = 0;
        } finally {
            await run.close(grace);
            fs.rmSync(tmp, { recursive: true, force: true });
            tmpDirs.delete(tmp);
        }
        rec.elapsed_ms = Math.round(nowMs() - t0);
        rec.procs = run.procs.map((p) => p.record());
        if (run.skip) {
            rec.skip = run.skip;
        } else if (run.failure) {
            rec.error = run.failure;
            const tails = run.procs
                .map((p) => [p.role, (p.stderr.trim() || p.other.join('\n')).split('\n').slice(-6).join('\n    ')])
                .filter(([, t]) => t);
            rec.detail = tails.map(([r, t]) => `  ${r} said:\n    ${t}`).join('\n');
        } else {
            rec.ok = true;
        }
        return rec;
    }

    async measure(run, impl, transport, bench, count, tmp) {
        const cpus = this.cpus(bench);
        switch (bench.kind) {
        case 'stream': {
            const extra = this.extra(bench, count);
            const [server, ep] = await this.startServer(run, impl, transport, bench, extra, tmp, false);
            const t0 = nowMs();
            const client = run.spawn('client',
                this.argv(impl, 'client', cpus.client, transport, ep, bench, extra, false));
            const res = await run.wait(server.waitFor((l) => l.ev === 'result', 'a result line'));
            timedOut('server', res);
            if (res.count !== count) throw new BenchFail(`server counted ${res.count} events, want ${count}`);
            if (!isNum(res.seconds) || res.seconds <= 0) throw new BenchFail(`bad seconds in ${JSON.stringify(res)}`);
            // The client's CPU time: give it a moment to print and end by itself.
            await run.wait(Promise.race([client.closed, sleep(2000)]));
            const m = {
                count, seconds: res.seconds, wall: res.t_ms - t0,
                rate: count / res.seconds,
                bytes: isNum(res.bytes) ? res.bytes : null,
                cpu_server: isNum(res.cpu_ns) ? res.cpu_ns : null,
                cpu_client: lastCpuNs(client),
            };
            const payload = bench.size || bench.payload;
            if (payload) m.mbps = (count * payload) / res.seconds / 1e6;
            return m;
        }
        case 'latency': {
            const { t0, res } = await this.serveAndRunClient(run, impl, transport, bench, count, tmp, cpus);
            if (res.count !== count) throw new BenchFail(`client made ${res.count} round trips, want ${count}`);
            for (const k of ['p50', 'p99', 'p999']) {
                if (!isNum(res[k]) || res[k] <= 0) throw new BenchFail(`bad ${k} in ${JSON.stringify(res)}`);
            }
            return {
                count, wall: res.t_ms - t0, seconds: (res.t_ms - t0) / 1000,
                p50: res.p50 / 1000, p99: res.p99 / 1000, p999: res.p999 / 1000,
            };
        }
        case 'echo': {
            const { t0, res, server } = await this.serveAndRunClient(run, impl, transport, bench, count, tmp, cpus);
            if (res.count !== count) throw new BenchFail(`client counted ${res.count} echoes, want ${count}`);
            if (!isNum(res.seconds) || res.seconds <= 0) throw new BenchFail(`bad seconds in ${JSON.stringify(res)}`);
            const bytes = frameBytes(bench.shape.texts, count);
            if (res.bytes !== bytes) throw new BenchFail(`client says ${res.bytes} bytes, the shape makes ${bytes}`);
            // The server's CPU time: it ends once the client has gone.
            await run.wait(Promise.race([server.closed, sleep(2000)]));
            return {
                count, seconds: res.seconds, wall: res.t_ms - t0, rate: count / res.seconds, bytes,
                cpu_client: isNum(res.cpu_ns) ? res.cpu_ns : null, cpu_server: lastCpuNs(server),
            };
        }
        case 'world': return this.measureWorld(run, impl, bench, count, tmp, cpus);
        case 'handshakes': {
            const { t0, res } = await this.serveAndRunClient(run, impl, transport, bench, count, tmp, cpus);
            if (res.count !== count) throw new BenchFail(`client made ${res.count} connections, want ${count}`);
            if (!isNum(res.seconds) || res.seconds <= 0) throw new BenchFail(`bad seconds in ${JSON.stringify(res)}`);
            return { count, seconds: res.seconds, wall: res.t_ms - t0, rate: count / res.seconds };
        }
        case 'broadcast': {
            const extra = this.extra(bench, count);
            const [, ep] = await this.startServer(run, impl, transport, bench, extra, tmp, false);
            const t0 = nowMs();
            const client = run.spawn('client',
                this.argv(impl, 'client', cpus.client, transport, ep, bench, extra, false));
            const res = await run.wait(client.waitFor((l) => l.ev === 'result', 'a result line'));
            timedOut('client', res);
            const want = count * bench.clients;
            if (res.deliveries !== want) {
                throw new BenchFail(`client counted ${res.deliveries} deliveries, want ${want} (${count} × ${bench.clients})`);
            }
            if (!isNum(res.seconds) || res.seconds <= 0) throw new BenchFail(`bad seconds in ${JSON.stringify(res)}`);
            return { count, deliveries: want, seconds: res.seconds, wall: res.t_ms - t0, rate: want / res.seconds };
        }
        case 'idle': {
            const n = bench.clients;
            const extra = this.extra(bench, null);
            const [server, ep] = await this.startServer(run, impl, transport, bench, extra, tmp, true);
            await sleep(200);
            const rss0 = readRssKiB(server.pid);
            const fd0 = countFds(server.pid);
            const client = run.spawn('client',
                this.argv(impl, 'client', cpus.client, transport, ep, bench, extra, true));
            const res = await run.wait(client.waitFor((l) => l.ev === 'connected', 'a connected line'));
            if (res.n !== n) throw new BenchFail(`client connected ${res.n}, want ${n}`);
            // "connected" is the client's view; wait until the server holds them all too.
            let fds = countFds(server.pid);
            for (const t = nowMs(); fds - fd0 < n; fds = countFds(server.pid)) {
                if (nowMs() - t > 30000) {
                    throw new BenchFail(`server holds ${fds - fd0} of ${n} connections 30 s after the client's connected`);
                }
                await run.wait(sleep(50));
            }
            // Then until its RSS settles (3 equal readings 100 ms apart, at most 3 s).
            let rss = readRssKiB(server.pid);
            for (let same = 0, t = nowMs(); same < 2 && nowMs() - t < 3000;) {
                await run.wait(sleep(100));
                const r = readRssKiB(server.pid);
                same = r === rss ? same + 1 : 0;
                rss = r;
            }
            return {
                clients: n, rss0_mib: rss0 / KiB, rss_mib: rss / KiB,
                kib_per_conn: (rss - rss0) / n, server_fds: fds - fd0,
            };
        }
        case 'startup': {
            const reps = this.o.smoke ? 1 : bench.reps;
            const times = [];
            for (let i = 0; i < reps; i++) {
                const sub = fs.mkdtempSync(path.join(tmp, 's'));
                const [server, , ms] = await this.startServer(run, impl, transport, bench, [], sub, false);
                times.push(ms);
                await server.stop();
            }
            return { ms: median(times), reps: times };
        }
        default:
            throw new Error(`unknown kind ${bench.kind}`);
        }
    }

    // Finds a count that makes a run of `bench` last about --target seconds. Its runs are
    // warm-ups, kept in the JSON but not in the numbers: the first (cold: page faults, JIT)
    // at the benchmark's first guess, then at the estimate until a run lasts at least half
    // the target, so the last step extrapolates at most twofold from a warm run.
    async calibrate(impl, transport, bench, cell) {
        const want = this.o.target;
        const lo = bench.cmin ?? Math.max(1, Math.ceil(bench.c0 / 10));
        const clamp = (n) => Math.min(bench.cmax, Math.max(lo, roundUp2(n)));
        let count = bench.c0;
        for (let i = 0; i < 4; i++) {
            const rec = await this.runOnce(impl, transport, bench, count);
            rec.warmup = true;
            cell.warmups.push(rec);
            if (!rec.ok) return rec;
            const secs = Math.max(rec.m.seconds, 1e-3);
            const est = clamp(count * want / secs);
            if ((i >= 1 && secs >= want * 0.5) || est === count) return { ok: true, count: est };
            // Far too short to extrapolate from: aim at half the target first.
            count = secs < want * 0.1 ? clamp(count * want * 0.5 / secs) : est;
        }
        return { ok: true, count };
    }

    selected() {
        const out = [];
        for (const bench of this.benches) {
            if (this.o.smoke && !bench.smoke) continue;
            for (const transport of TRANSPORTS) {
                if (!(bench.transports || ['unix', 'tcp']).includes(transport)) continue;
                for (const impl of this.impls) {
                    if (impl.kinds && !impl.kinds.includes(bench.kind)) continue;
                    if (impl.transports && !impl.transports.includes(transport)) continue;
                    if (bench.impls && !bench.impls.includes(impl.name)) continue;
                    const key = `${bench.id}/${transport}/${impl.name}`;
                    if (this.o.onlyRe && !this.o.onlyRe.test(key)) continue;
                    out.push({ key, bench, transport, impl });
                }
            }
        }
        return out;
    }

    async runAll() {
        const sel = this.selected();
        const groups = new Map(); // bench/transport -> [{impl,...}]
        for (const s of sel) {
            if (!s.impl.available) continue;
            const g = `${s.bench.id}/${s.transport}`;
            if (!groups.has(g)) groups.set(g, []);
            groups.get(g).push(s);
        }
        let gi = 0;
        for (const [g, members] of groups) {
            gi++;
            const bench = members[0].bench;
            const transport = members[0].transport;
            const head = `[${String(gi).padStart(2)}/${groups.size}] ${g.padEnd(20)}`;
            const active = [];
            for (const s of members) {
                const cell = { key: s.key, bench: bench.id, transport, impl: s.impl.name, runs: [], warmups: [], count: null };
                this.cells.set(s.key, cell);
                // A ZeroMQ socket also holds a mailbox descriptor of its own: two per client.
                const fds = bench.clients * (s.impl.name === 'zmq' ? 2 : 1) + 64;
                if (bench.kind === 'idle' && fds > this.fdLimit) {
                    cell.skip = `needs ${fds} open files per process, the limit is ${this.fdLimit}`;
                    continue;
                }
                active.push([s, cell]);
            }
            // Counts: fixed with --smoke, calibrated per implementation otherwise.
            for (const [s, cell] of active) {
                if (bench.kind === 'idle' || bench.kind === 'startup') continue;
                if (this.o.smoke) {
                    cell.count = bench.smoke;
                    continue;
                }
                const c = await this.calibrate(s.impl, transport, bench, cell);
                if (c.ok) cell.count = c.count;
                else if (c.skip) cell.skip = c.skip;
                else cell.runs.push(c); // a failed warm-up is a failed run
            }
            // Runs interleave the implementations, so drift hits them alike.
            for (let r = 0; r < this.o.runs; r++) {
                for (const [s, cell] of active) {
                    if (cell.skip || cell.runs.some((x) => !x.ok)) continue;
                    const rec = await this.runOnce(s.impl, transport, bench, cell.count);
                    if (rec.skip) cell.skip = rec.skip;
                    else cell.runs.push(rec);
                }
            }
            for (const [, cell] of active) {
                const msg = this.progress(bench, cell);
                process.stderr.write(`${head} ${cell.impl.padEnd(8)} ${msg}\n`);
            }
            for (const [, cell] of active) {
                if (cell.skip) this.notes.push(`${cell.key}: skipped: ${cell.skip}`);
                for (const rec of cell.runs) {
                    if (!rec.ok) this.failures.push(`${cell.key}: ${rec.error}${rec.detail ? '\n' + rec.detail : ''}`);
                }
            }
            for (const s of members) {
                const cell = this.cells.get(s.key);
                if (cell.skip && !active.some(([, c]) => c === cell)) this.notes.push(`${cell.key}: skipped: ${cell.skip}`);
            }
        }
    }

    progress(bench, cell) {
        if (cell.skip) return `skipped: ${cell.skip}`;
        const bad = cell.runs.filter((r) => !r.ok);
        if (bad.length) return `FAIL: ${bad[0].error}`;
        const v = (m) => {
            switch (bench.kind) {
            case 'stream': return bench.size || bench.payload ? `${fmtNum(m.mbps)} MB/s` : `${fmtNum(m.rate)} ev/s`;
            case 'latency': return `p50 ${fmtNum(m.p50)} µs`;
            case 'broadcast': return `${fmtNum(m.rate)} deliveries/s`;
            case 'handshakes': return `${fmtNum(m.rate)} connections/s`;
            case 'echo': return `${fmtNum(m.rate)} ev/s`;
            case 'world': return `${fmtNum(m.rate)} ev/s`;
            case 'idle': return `${fmtNum(m.rss_mib)} MiB`;
            case 'startup': return `${fmtNum(m.ms)} ms`;
            default: return '?';
            }
        };
        const count = cell.count ? `count ${cell.count}: ` : '';
        return count + cell.runs.map((r) => v(r.m)).join(', ');
    }
}

function roundUp2(x) {
    // Up to two significant digits: 12345 -> 13000.
    if (x <= 100) return Math.ceil(x);
    const p = 10 ** (Math.floor(Math.log10(x)) - 1);
    return Math.ceil(x / p) * p;
}

// ---- tables -------------------------------------------------------------------------------

function fmtNum(x) {
    if (x === null || x === undefined || !Number.isFinite(x)) return '?';
    const a = Math.abs(x);
    const sig3 = (v) => {
        if (v >= 100) return v.toFixed(0);
        if (v >= 10) return v.toFixed(1);
        return v.toFixed(2);
    };
    if (a >= 1e9) return sig3(x / 1e9) + 'G';
    if (a >= 1e6) return sig3(x / 1e6) + 'M';
    if (a >= 1e4) return sig3(x / 1e3) + 'k';
    if (a >= 100) return x.toFixed(0);
    if (a >= 10) return x.toFixed(1);
    if (a >= 1) return x.toFixed(2);
    if (a === 0) return '0';
    return x.toPrecision(2);
}

function fmtRatio(x) {
    if (!Number.isFinite(x)) return '?';
    if (x >= 100) return x.toFixed(0) + 'x';
    if (x >= 10) return x.toFixed(1) + 'x';
    if (x >= 0.1) return x.toFixed(2) + 'x';
    return x.toPrecision(2) + 'x';
}

// A cell's state for one row: { text, value } where value is the median or null.
function cellSummary(cell, get) {
    if (!cell) return { text: '', value: null };
    if (cell.skip) return { text: 'skip', value: null };
    if (cell.runs.some((r) => !r.ok)) return { text: 'FAIL', value: null };
    if (!cell.runs.length) return { text: '', value: null };
    const vals = cell.runs.map((r) => get(r.m));
    if (vals.some((v) => v === null || v === undefined || !Number.isFinite(v))) return { text: 'n/a', value: null };
    const med = median(vals);
    if (vals.length === 1) return { text: fmtNum(med), value: med };
    const lo = Math.min(...vals);
    const hi = Math.max(...vals);
    return { text: `${fmtNum(med)} [${fmtNum(lo)}–${fmtNum(hi)}]`, value: med };
}

function renderTable(title, header, rows, alignLeft) {
    const widths = header.map((h, i) => Math.max(strWidth(h), ...rows.map((r) => strWidth(r[i]))));
    const pad = (s, i) => (i < alignLeft ? s + ' '.repeat(widths[i] - strWidth(s)) : ' '.repeat(widths[i] - strWidth(s)) + s);
    const line = (r) => r.map(pad).join('  ').trimEnd();
    const out = [title, line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
    for (const r of rows) out.push(line(r));
    return out.join('\n');
}

function strWidth(s) {
    return [...String(s)].length;
}

function report(d) {
    const shown = d.impls.filter((i) => i.available && [...d.cells.values()].some((c) => c.impl === i.name));
    const names = shown.map((i) => i.name);
    const out = [];
    const m = d.machine;
    out.push(`nipc benchmarks, ${m.date}`);
    out.push(`machine: ${m.nproc} CPUs (nproc), ${m.cpu}, ${m.kernel} ${m.arch}, ${m.mem_gib} GiB, node ${m.node}`);
    out.push(d.pinned
        ? 'pinning: taskset, server on CPU 0, client on CPU 1 (same-core latency: both on CPU 0)'
        : `pinning: none (${d.taskset ? 'fewer than 2 usable CPUs' : 'no taskset'}); latency is unpinned`);
    out.push(d.o.smoke
        ? `mode: smoke, ${d.o.runs} run(s) per cell, small fixed counts`
        : `mode: full, ${d.o.runs} runs per cell, median [min–max]; counts calibrated per implementation to ~${d.o.target} s a run (after warm-up runs)`);
    const absent = d.impls.filter((i) => !i.available);
    out.push(`implementations: ${d.impls.filter((i) => i.available).map((i) => i.name).join(', ')}` +
        (absent.length ? `; absent: ${absent.map((i) => `${i.name} (${i.missing})`).join(', ')}` : ''));

    const cell = (bench, transport, impl) => d.cells.get(`${bench}/${transport}/${impl}`);
    // A section: rows of [labels..., bench id, getter]; nothing printed when no cell ran.
    // `versus` names the implementations nipc is divided by in ratio columns of their own
    // (each shown when both it and nipc ran somewhere in this invocation).
    const section = (title, labelNames, rowDefs, versus = ['node-ipc']) => {
        // Columns only for the implementations that ran a cell of this section (the
        // variants run in the latency tests only).
        const cols = names.filter((n) => rowDefs.some((def) => cell(def.bench, def.transport, n)));
        const ratios = versus.filter((n) => names.includes(n) && names.includes('nipc'));
        const header = [...labelNames, ...cols, ...ratios.map((n) => `nipc/${n}`)];
        const rows = [];
        for (const def of rowDefs) {
            const cs = cols.map((n) => cellSummary(cell(def.bench, def.transport, n), def.get));
            if (cs.every((c) => c.text === '')) continue;
            const row = [...def.labels, ...cs.map((c) => c.text)];
            const v = (n) => (cols.includes(n) ? cs[cols.indexOf(n)].value : null);
            for (const n of ratios) row.push(v('nipc') !== null && v(n) ? fmtRatio(v('nipc') / v(n)) : '');
            rows.push(row);
        }
        if (rows.length) out.push('', renderTable(title, header, rows, labelNames.length));
    };
    const withRaw = ['node-ipc', 'raw'];
    const benchIds = new Set(d.benches.map((b) => b.id));
    const defs = (ids, fn) => TRANSPORTS.flatMap((t) => ids.filter((id) => benchIds.has(id)).flatMap((id) => fn(t, id)));

    section('Throughput: small events per second (higher is better)', ['transport'],
        defs(['throughput'], (t, id) => [{ labels: [t], bench: id, transport: t, get: (x) => x.rate }]), withRaw);

    const sizes = {
        'sweep-16': '16 B', 'sweep-1k': '1 KiB', 'sweep-64k': '64 KiB', 'sweep-1m': '1 MiB', 'sweep-doubles': '8 doubles',
    };
    section('Payload sweep: MB/s of payload (higher is better)', ['transport', 'payload'],
        defs(Object.keys(sizes), (t, id) => [{ labels: [t, sizes[id]], bench: id, transport: t, get: (x) => x.mbps }]), withRaw);

    const raws = { 'raw-16': '16 B', 'raw-1k': '1 KiB', 'raw-64k': '64 KiB', 'raw-1m': '1 MiB' };
    section('Raw mode: MB/s of one-way writes, no framing (higher is better)', ['transport', 'write'],
        defs(Object.keys(raws), (t, id) => [{ labels: [t, raws[id]], bench: id, transport: t, get: (x) => x.mbps }]), withRaw);

    // Echo: a row per shape (in the file's order) and transport.
    const echoes = d.benches.filter((b) => b.kind === 'echo');
    section('Echo: events per second by shape (higher is better)', ['shape', 'transport'],
        echoes.flatMap((b) => TRANSPORTS.map((t) => ({ labels: [b.shape.name, t], bench: b.id, transport: t, get: (x) => x.rate }))),
        ['node-ipc', 'zmq']);

    // World: a row per log setting; then nipc's logging cost against its own silent world.
    const worlds = { 'world-log': 'on', 'world-payloads': 'on, payloads', 'world-silent': 'silent' };
    const worldIds = Object.keys(worlds).filter((id) => benchIds.has(id));
    section("World: node-ipc's basic server answering a client, events per second, its log to a file (higher is better)",
        ['log'], worldIds.map((id) => ({ labels: [worlds[id]], bench: id, transport: 'unix', get: (x) => x.rate })));
    const quiet = cellSummary(cell('world-silent', 'unix', 'nipc'), (x) => x.rate).value;
    for (const id of ['world-log', 'world-payloads']) {
        const v = cellSummary(cell(id, 'unix', 'nipc'), (x) => x.rate).value;
        if (v && quiet) out.push(`nipc's world, log ${worlds[id]} / silent: ${fmtRatio(v / quiet)}`);
    }

    const cores = { 'latency-same': 'same core', 'latency-cross': 'cross core', latency: 'unpinned' };
    section('Latency: round trip in µs (lower is better)', ['transport', 'cores', 'pct'],
        defs(Object.keys(cores), (t, id) => [['p50', 'p50'], ['p99', 'p99'], ['p999', 'p99.9']].map(([k, label]) => (
            { labels: [t, cores[id], label], bench: id, transport: t, get: (x) => x[k] })
        )), withRaw);

    section('Handshakes: connections per second, each connect (+ TLS handshake) + one round trip + close, one after another (higher is better)',
        ['transport'], defs(['handshakes'], (t, id) => [{ labels: [t], bench: id, transport: t, get: (x) => x.rate }]));

    const bc = ['broadcast-10', 'broadcast-100', 'broadcast-1000'];
    section('Broadcast: deliveries per second (higher is better)', ['transport', 'clients'],
        defs(bc, (t, id) => [{ labels: [t, id.split('-')[1]], bench: id, transport: t, get: (x) => x.rate }]));

    // Idle: the 0 row is the server's RSS before the client of the first idle cell connects.
    const idle = d.benches.filter((b) => b.kind === 'idle').map((b) => b.id);
    const firstIdle = (t) => idle.find((id) => names.some((n) => cell(id, t, n)?.runs.length));
    section('Idle server RSS: MiB (lower is better)', ['transport', 'connections'],
        TRANSPORTS.flatMap((t) => {
            const rows = [];
            const f = firstIdle(t);
            if (f) rows.push({ labels: [t, '0'], bench: f, transport: t, get: (x) => x.rss0_mib });
            for (const id of idle) rows.push({ labels: [t, id.split('-')[1]], bench: id, transport: t, get: (x) => x.rss_mib });
            return rows;
        }));
    section('Idle memory per connection: KiB, (RSS(N) - RSS(0)) / N (lower is better)', ['transport', 'connections'],
        defs(idle, (t, id) => [{ labels: [t, id.split('-')[1]], bench: id, transport: t, get: (x) => x.kib_per_conn }]));

    section('Startup: ms from spawn to ready (lower is better)', ['transport'],
        defs(['startup'], (t, id) => [{ labels: [t], bench: id, transport: t, get: (x) => x.ms }]));

    const per = (ns, mm) => (ns === null ? null : ns / mm.count); // ns per event = ms per 1M events
    section('CPU time per million events: ms, from the throughput test (lower is better)', ['transport', 'side'],
        defs(['throughput'], (t, id) => [
            { labels: [t, 'both'], bench: id, transport: t,
                get: (x) => (x.cpu_server === null || x.cpu_client === null ? null : per(x.cpu_server + x.cpu_client, x)) },
            { labels: [t, 'server'], bench: id, transport: t, get: (x) => per(x.cpu_server, x) },
            { labels: [t, 'client'], bench: id, transport: t, get: (x) => per(x.cpu_client, x) },
        ]));

    if (d.notes.length) out.push('', 'Notes:', ...d.notes.map((n) => `  ${n}`));
    if (d.failures.length) out.push('', `FAILED runs (${d.failures.length}):`, ...d.failures.map((f) => `  ${f}`));
    return out.join('\n');
}

// ---- main ---------------------------------------------------------------------------------

function killAll() {
    for (const p of live) {
        p.killedByUs = true;
        killGroup(p.child, 'SIGKILL');
    }
    for (const dir of tmpDirs) {
        try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
    tmpDirs.clear();
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const d = new Driver(o);

    if (o.list) {
        for (const s of d.selected()) {
            process.stdout.write(`${s.key}${s.impl.available ? '' : `  (${s.impl.missing})`}\n`);
        }
        return 0;
    }
    let status = 0;
    for (const name of o.require) {
        const impl = d.impls.find((i) => i.name === name);
        if (!impl) die(`--require: unknown implementation '${name}' (${d.impls.map((i) => i.name).join(', ')})`);
        if (!impl.available) {
            process.stderr.write(`run.js: required implementation ${name} is missing: ${impl.file} (${impl.missing})\n`);
            status = 1;
        }
    }
    if (status) return status;
    for (const impl of d.impls) {
        if (!impl.available) d.notes.push(`${impl.name}: ${impl.missing} (${impl.file})`);
    }
    if (!d.impls.some((i) => i.available)) {
        process.stderr.write(`run.js: no benchmark program found under ${o.buildDir}/bench\n`);
        return 1;
    }

    const t0 = nowMs();
    process.stderr.write(`run.js: ${o.smoke ? 'smoke' : 'full'} run, build dir ${o.buildDir}\n`);
    await d.runAll();
    const elapsed = (nowMs() - t0) / 1000;
    d.notes.push(`total time ${elapsed.toFixed(0)} s`);
    process.stdout.write(report(d) + '\n');

    if (o.json) {
        const doc = {
            machine: d.machine, pinned: d.pinned, fd_limit: Number.isFinite(d.fdLimit) ? d.fdLimit : null,
            options: { smoke: o.smoke, runs: o.runs, only: o.only, target_s: o.target, timeout_s: o.timeout, build_dir: o.buildDir },
            implementations: d.impls.map((i) => ({ name: i.name, available: i.available, file: i.file })),
            elapsed_s: elapsed,
            cells: [...d.cells.values()],
            failures: d.failures,
            notes: d.notes,
        };
        fs.writeFileSync(o.json, JSON.stringify(doc, null, 1) + '\n');
    }
    const failed = [...d.cells.values()].some((c) => c.runs.some((r) => !r.ok));
    return failed ? 1 : 0;
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
        killAll();
        process.exit(128 + (os.constants.signals[sig] || 1));
    });
}

main().then(
    (code) => { process.exitCode = code; },
    (err) => {
        process.stderr.write(`run.js: ${err.stack || err}\n`);
        killAll();
        process.exitCode = 1;
    });
