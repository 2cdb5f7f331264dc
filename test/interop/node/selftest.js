// SPDX-License-Identifier: MIT
//
// Node-to-Node check of peer.js, needing no C code: every role against a Node server-echo,
// for each server/client pairing of node-ipc 10 and 9.
//
//   node --test selftest.js          (or: npm test)
//
// The flood timings are reported as test diagnostics ("# flood v10->v9: ...").
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PEER = path.join(__dirname, 'peer.js');
const VERS = ['10', '9'];
const FLOOD = 100000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-peer-selftest-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

let sockSeq = 0;
const sockPath = () => path.join(dir, `s${++sockSeq}.sock`);

// Starts peer.js; collects its JSON lines. wait(pred) resolves with the first line matching
// pred (also one already seen); done resolves with { code, lines } when the process exits.
function peer(args) {
    const proc = spawn(process.execPath, [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    const waiters = [];
    let buf = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
            const text = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const line = JSON.parse(text); // anything but JSON on stdout is a bug
            lines.push(line);
            for (const w of waiters.slice()) {
                if (w.pred(line)) {
                    waiters.splice(waiters.indexOf(w), 1);
                    w.resolve(line);
                }
            }
        }
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => { stderr += chunk; });
    const done = new Promise((resolve) => {
        proc.on('close', (code) => {
            for (const w of waiters) w.reject(new Error(`exited (${code}) before the line came; got ${JSON.stringify(lines)} ${stderr}`));
            resolve({ code, lines, stderr });
        });
    });
    const wait = (pred) => {
        const seen = lines.find(pred);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => waiters.push({ pred, resolve, reject }));
    };
    return { proc, lines, wait, done };
}

const ev = (name) => (line) => line.ev === name;
const evs = (lines) => lines.map((l) => l.ev);

async function server(ver, extra = []) {
    const p = sockPath();
    const s = peer(['--ver', ver, '--role', 'server-echo', '--path', p, '--timeout', '30000', ...extra]);
    await s.wait(ev('listening'));
    return { s, p };
}

async function run(args) {
    return peer(args).done;
}

test('info names the installed fork versions', async () => {
    for (const [ver, version] of [['10', '10.1.11'], ['9', '9.2.9']]) {
        const { code, lines } = await run(['--ver', ver, '--role', 'info']);
        assert.equal(code, 0);
        assert.deepEqual(lines, [{ ev: 'info', ver, name: '@achrinza/node-ipc', version }]);
    }
});

for (const sv of VERS) {
    for (const cv of VERS) {
        const pair = `v${cv} client -> v${sv} server`;

        test(`echo, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--clients', '1']);
            const c = await run(['--ver', cv, '--role', 'client-echo', '--path', p]);
            assert.equal(c.code, 0);
            assert.deepEqual(c.lines, [
                { ev: 'connect' },
                { ev: 'message', data: { got: { id: 'node', message: 'hi' } } },
                { ev: 'message', data: 'hello world!' },
                { ev: 'done' },
            ]);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(r.lines, [
                { ev: 'listening' },
                { ev: 'connect' },
                { ev: 'message', data: { id: 'node', message: 'hi' } },
                { ev: 'message', data: 'hello' },
                { ev: 'socket.disconnected', id: 'node' },
                { ev: 'end', clients: 1 },
            ]);
        });

        test(`flood of ${FLOOD}, ${pair}`, async (t) => {
            const { s, p } = await server(sv, ['--clients', '1']);
            const t0 = process.hrtime.bigint();
            const c = await run(['--ver', cv, '--role', 'client-flood', '--path', p, '--timing']);
            const wall = Number(process.hrtime.bigint() - t0) / 1e6;
            assert.equal(c.code, 0, JSON.stringify(c.lines));
            assert.deepEqual(evs(c.lines), ['connect', 'sent', 'count.result']);
            const result = c.lines[2];
            assert.equal(result.received, FLOOD);
            assert.equal(result.inOrder, true);
            t.diagnostic(`flood v${cv}->v${sv}: sent after ${c.lines[1].ms} ms, ` +
                `count.result after ${result.ms} ms (from connect); process wall ${wall.toFixed(0)} ms`);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(r.lines.find(ev('count.result')), { ev: 'count.result', received: FLOOD, inOrder: true });
        });

        test(`hello and news, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--clients', '1', '--news', '3']);
            const c = await run(['--ver', cv, '--role', 'client-recv', '--path', p, '--id', 'rx', '--count', '3']);
            assert.equal(c.code, 0);
            assert.deepEqual(c.lines, [
                { ev: 'connect' },
                { ev: 'news', data: { i: 0, to: 'rx' } },
                { ev: 'news', data: { i: 1, to: 'rx' } },
                { ev: 'news', data: { i: 2, to: 'rx' } },
                { ev: 'done' },
            ]);
            const r = await s.done;
            assert.deepEqual(r.lines.find(ev('hello')), { ev: 'hello', data: { id: 'rx' } });
        });

        test(`id learned then bye, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--clients', '1']);
            const c = await run(['--ver', cv, '--role', 'client-id-bye', '--path', p, '--id', 'byebye']);
            assert.equal(c.code, 0);
            assert.deepEqual(c.lines, [{ ev: 'connect' }, { ev: 'done' }]);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(r.lines.find(ev('socket.disconnected')), { ev: 'socket.disconnected', id: 'byebye' });
        });

        test(`maxConnections 1 closes the second client, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--max-connections', '1', '--clients', '1', '--news', '1']);
            // The first client gets its one news item and then waits for a second one.
            const a = peer(['--ver', cv, '--role', 'client-recv', '--path', p, '--id', 'a', '--count', '2']);
            await a.wait(ev('news'));
            const b = await run(['--ver', cv, '--role', 'client-recv', '--path', p, '--id', 'b',
                '--max-retries', '0']);
            assert.equal(b.code, 0);
            // The kernel accepts, so the client sees connect; its hello may meet EPIPE.
            assert.deepEqual(evs(b.lines).filter((e) => e !== 'error'), ['connect', 'disconnect', 'destroy']);
            a.proc.kill('SIGTERM');
            const ra = await a.done;
            assert.deepEqual(evs(ra.lines), ['connect', 'news', 'signal']);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(evs(r.lines), ['listening', 'connect', 'hello', 'socket.disconnected', 'end']);
        });
    }
}

test('broadcast news reaches every client', async () => {
    for (const ver of VERS) {
        const { s, p } = await server(ver, ['--clients', '2', '--news', '2', '--broadcast']);
        // a: its own 2 items, then 2 more when b says hello.
        const a = peer(['--ver', ver, '--role', 'client-recv', '--path', p, '--id', 'a', '--count', '4']);
        await a.wait(ev('news'));
        const b = await run(['--ver', ver, '--role', 'client-recv', '--path', p, '--id', 'b', '--count', '2']);
        const ra = await a.done;
        assert.equal(b.code, 0);
        assert.equal(ra.code, 0);
        assert.deepEqual(b.lines.filter(ev('news')).map((l) => l.data), [{ i: 0, to: 'b' }, { i: 1, to: 'b' }]);
        assert.deepEqual(ra.lines.filter(ev('news')).map((l) => l.data),
            [{ i: 0, to: 'a' }, { i: 1, to: 'a' }, { i: 0, to: 'b' }, { i: 1, to: 'b' }]);
        assert.equal((await s.done).code, 0);
    }
});

test('END stops server-echo; a client without a server fails fast', async () => {
    for (const ver of VERS) {
        const { s, p } = await server(ver);
        const c = await run(['--ver', ver, '--role', 'client-echo', '--path', p, '--end']);
        assert.equal(c.code, 0);
        const r = await s.done;
        assert.equal(r.code, 0);
        assert.deepEqual(r.lines.at(-1), { ev: 'end' });
        assert.equal(fs.existsSync(p), false, 'socket file removed');

        const t0 = Date.now();
        const miss = await run(['--ver', ver, '--role', 'client-echo', '--path', p]);
        assert.equal(miss.code, 1);
        assert.deepEqual(miss.lines.map((l) => l.ev), ['error', 'disconnect', 'destroy']);
        assert.equal(miss.lines[0].code, 'ENOENT');
        assert.ok(Date.now() - t0 < 5000);
    }
});

test('--retry waits for a late server', async () => {
    for (const ver of VERS) {
        const p = sockPath();
        const c = peer(['--ver', ver, '--role', 'client-echo', '--path', p, '--retry', '100', '--end']);
        await c.wait(ev('error'));
        const s = peer(['--ver', ver, '--role', 'server-echo', '--path', p]);
        const rc = await c.done;
        assert.equal(rc.code, 0);
        assert.deepEqual(evs(rc.lines).filter((e) => e !== 'error' && e !== 'disconnect'),
            ['connect', 'message', 'message', 'done']);
        assert.equal((await s.done).code, 0);
    }
});

test('hard timeout and signals', async () => {
    for (const ver of VERS) {
        const t = await run(['--ver', ver, '--role', 'server-echo', '--path', sockPath(), '--timeout', '300']);
        assert.equal(t.code, 2);
        assert.deepEqual(t.lines, [{ ev: 'listening' }, { ev: 'timeout' }]);

        const { s } = await server(ver);
        s.proc.kill('SIGTERM');
        const r = await s.done;
        assert.equal(r.code, 0);
        assert.deepEqual(r.lines, [{ ev: 'listening' }, { ev: 'signal', signal: 'SIGTERM' }]);
    }
});
