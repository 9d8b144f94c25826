#!/usr/bin/env node
'use strict';
/*
 * emit.js — a real OpenTelemetry JS SDK client for spanrelay's integration tests.
 *
 *   node emit.js --exporter grpc|proto|http --endpoint URL --spans N --traces T
 *                [--service NAME] [--out FILE] [--processor batch|simple]
 *                [--batch-size N] [--timeout-ms MS] [--compression none|gzip]
 *                [--header k=v]... [--resource-attr k=v]... [--deadline-ms MS]
 *                [--continue FILE] [--rate SPANS_PER_S]
 *
 * Builds T traces holding N spans in total (a root and its children per trace, kinds,
 * attributes of every API type, 1-2 events each, links on some, status on some), hands
 * them to the chosen official exporter through a Batch- or SimpleSpanProcessor, flushes,
 * shuts down, and prints (or writes to --out) one JSON summary: the export outcome and
 * every span as given to the exporter, in the shape tests/integration/fake_backend.py
 * gives a received span (ids hex, times as ns strings, OTLP kind/status numbers).
 * --continue FILE takes the summary an earlier run wrote with --out and continues its
 * traces, as a service called by another pod would: trace t's root here is a SERVER span
 * whose remote parent is that run's root of trace t (same trace id), so --traces must not
 * exceed the traces in FILE.
 * Exit 0 when every export succeeded, 1 when one failed, 2 on bad usage, 3 when the
 * --deadline-ms guard fired.
 * --rate makes a steady load instead of one burst: traces are made one after another so
 * that spans end at about that many per second, each stamped with the wall clock when it
 * is made (so a backend can tell how long a span took to reach it); --deadline-ms must
 * leave room for spans / rate seconds.
 *
 * Endpoints (all three exporters used unchanged, only documented options set):
 *   loopback TCP   grpc:        http://127.0.0.1:PORT
 *                  proto, http: http://127.0.0.1:PORT  ("/v1/traces" is appended when the
 *                               URL has no path; a URL with a path is used as given)
 *   UNIX socket    all three:   unix:///abs/path.sock
 *     grpc:  the URL goes to @grpc/grpc-js as is (validateAndNormalizeUrl in
 *            otlp-grpc-exporter-base returns "unix:" URLs untouched). Its default
 *            credentials are TLS for anything not starting with "http://", unix:// included,
 *            so insecure credentials must be passed (`credentials:
 *            grpc.credentials.createInsecure()`, or OTEL_EXPORTER_OTLP_TRACES_INSECURE=true).
 *     proto, http: the URL becomes http://localhost/v1/traces and the socket is given through
 *            the exporters' documented `httpAgentOptions`: { socketPath: PATH }.
 *            otlp-exporter-base's httpAgentFactoryFromOptions builds `new http.Agent(options)`
 *            from it, and Node's Agent.createSocket merges the agent's options into each
 *            request (`options = {...options, ...this.options}; if (options.socketPath)
 *            options.path = options.socketPath`), so net.createConnection dials the socket.
 *            A URL alone cannot name a socket for these two: http-exporter-transport loads
 *            node:http for an "http:" URL and node:https for any other scheme, and dials the
 *            URL's host, so OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=unix://... does not work.
 */

const fs = require('fs');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } =
    require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes, defaultResource } = require('@opentelemetry/resources');

const SCOPES = [
    { name: 'spanrelay.interop.emit', version: '1.4.2' },
    { name: 'spanrelay.interop.worker', version: '0.9.0' },
];

function usage(msg) {
    if (msg) process.stderr.write(`emit.js: ${msg}\n`);
    process.stderr.write('usage: node emit.js --exporter grpc|proto|http --endpoint URL ' +
        '--spans N --traces T [--service NAME] [--out FILE] [--processor batch|simple] ' +
        '[--batch-size N] [--timeout-ms MS] [--compression none|gzip] [--header k=v]... ' +
        '[--resource-attr k=v]... [--deadline-ms MS] [--continue FILE] [--rate SPANS_PER_S]\n');
    process.exit(2);
}

function parseArgs(argv) {
    const o = {
        exporter: null, endpoint: null, spans: null, traces: null, service: 'spanrelay-interop',
        out: null, processor: 'batch', batchSize: 512, timeoutMs: 10000, compression: 'none',
        headers: {}, resourceAttrs: {}, deadlineMs: 60000, continueFrom: null, rate: null,
    };
    const kv = (s, flag) => {
        const i = s.indexOf('=');
        if (i <= 0) usage(`${flag} wants key=value, got "${s}"`);
        return [s.slice(0, i), s.slice(i + 1)];
    };
    const int = (s, flag, min) => {
        if (!/^\d+$/.test(s || '') || Number(s) < min) usage(`${flag} wants an integer >= ${min}`);
        return Number(s);
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
        switch (a) {
        case '--exporter': o.exporter = v(); break;
        case '--endpoint': o.endpoint = v(); break;
        case '--spans': o.spans = int(v(), a, 1); break;
        case '--traces': o.traces = int(v(), a, 1); break;
        case '--service': o.service = v(); break;
        case '--out': o.out = v(); break;
        case '--processor': o.processor = v(); break;
        case '--batch-size': o.batchSize = int(v(), a, 1); break;
        case '--timeout-ms': o.timeoutMs = int(v(), a, 1); break;
        case '--compression': o.compression = v(); break;
        case '--deadline-ms': o.deadlineMs = int(v(), a, 1); break;
        case '--continue': o.continueFrom = v(); break;
        case '--rate': o.rate = int(v(), a, 1); break;
        case '--header': { const [k, x] = kv(v(), a); o.headers[k] = x; break; }
        case '--resource-attr': { const [k, x] = kv(v(), a); o.resourceAttrs[k] = x; break; }
        case '-h': case '--help': usage(); break;
        default: usage(`unknown argument "${a}"`);
        }
    }
    if (!['grpc', 'proto', 'http'].includes(o.exporter)) usage('--exporter must be grpc, proto or http');
    if (!o.endpoint) usage('--endpoint is required');
    if (o.spans === null || o.traces === null) usage('--spans and --traces are required');
    if (o.spans < o.traces) usage('--spans must be >= --traces (every trace has a root)');
    if (!['batch', 'simple'].includes(o.processor)) usage('--processor must be batch or simple');
    if (!['none', 'gzip'].includes(o.compression)) usage('--compression must be none or gzip');
    if (o.continueFrom !== null) {
        const earlier = JSON.parse(fs.readFileSync(o.continueFrom, 'utf8'));
        o.remoteParents = earlier.spans.filter((s) => s.parentSpanId === '')
            .map((s) => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: 1, isRemote: true }));
        if (o.remoteParents.length < o.traces) usage(`--continue: ${o.continueFrom} holds ` +
            `${o.remoteParents.length} traces, fewer than --traces`);
    }
    return o;
}

/* The exporter, configured for the endpoint; returns { exporter, url }. */
function makeExporter(o) {
    const isUnix = o.endpoint.startsWith('unix://');
    let socketPath = null;
    if (isUnix) {
        socketPath = o.endpoint.slice('unix://'.length);
        if (!socketPath.startsWith('/')) usage('a unix endpoint must be unix:///absolute/path');
    } else if (!/^https?:\/\//.test(o.endpoint)) {
        usage('--endpoint must be http(s)://host:port[/path] or unix:///abs/path');
    }
    /* BatchSpanProcessor's forceFlush hands every queued batch to the exporter at once;
     * the exporters refuse more than concurrencyLimit (default 30) pending exports. */
    const common = {
        timeoutMillis: o.timeoutMs,
        compression: o.compression,
        concurrencyLimit: Math.max(30, Math.ceil(o.spans / o.batchSize) + 8),
    };

    if (o.exporter === 'grpc') {
        const grpc = require('@grpc/grpc-js');
        const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
        const metadata = new grpc.Metadata();
        for (const [k, v] of Object.entries(o.headers)) metadata.set(k, v);
        const cfg = { ...common, url: o.endpoint, metadata };
        if (isUnix || o.endpoint.startsWith('http://')) cfg.credentials = grpc.credentials.createInsecure();
        return { exporter: new OTLPTraceExporter(cfg), url: o.endpoint };
    }

    let url;
    if (isUnix) {
        url = 'http://localhost/v1/traces';
    } else {
        const u = new URL(o.endpoint);
        url = (u.pathname === '' || u.pathname === '/') ? `${u.origin}/v1/traces` : o.endpoint;
    }
    const cfg = { ...common, url, headers: { ...o.headers } };
    if (isUnix) cfg.httpAgentOptions = { keepAlive: true, socketPath };
    const mod = o.exporter === 'proto'
        ? require('@opentelemetry/exporter-trace-otlp-proto')
        : require('@opentelemetry/exporter-trace-otlp-http');
    return { exporter: new mod.OTLPTraceExporter(cfg), url };
}

/* Wraps the real exporter to record exactly what it was given and what it answered. */
class RecordingExporter {
    constructor(inner) {
        this.inner = inner;
        this.calls = [];
        this.spans = [];
    }
    export(spans, resultCallback) {
        const call = { spans: spans.length, code: 'NO_RESULT', error: null };
        this.calls.push(call);
        const recorded = spans.map((s) => ({ span: s, exported: false }));
        this.spans.push(...recorded);
        this.inner.export(spans, (result) => {
            call.code = result.code === 0 ? 'SUCCESS' : 'FAILED';
            if (result.error) call.error = String(result.error && (result.error.stack || result.error));
            if (result.code === 0) for (const r of recorded) r.exported = true;
            resultCallback(result);
        });
    }
    shutdown() { return this.inner.shutdown(); }
    forceFlush() { return this.inner.forceFlush ? this.inner.forceFlush() : Promise.resolve(); }
}

const hrToNs = (hr) => (BigInt(hr[0]) * 1000000000n + BigInt(hr[1])).toString();
const nsToHr = (ns) => [Number(ns / 1000000000n), Number(ns % 1000000000n)];

/* OTLP numbering: API SpanKind INTERNAL=0..CONSUMER=4 is OTLP 1..5. */
const otlpKind = (k) => k + 1;

function plainAttrs(attrs) {
    const out = {};
    for (const [k, v] of Object.entries(attrs || {})) out[k] = Array.isArray(v) ? [...v] : v;
    return out;
}

function summarizeSpan(rs, exported) {
    const sc = rs.spanContext();
    const parent = rs.parentSpanContext;
    return {
        traceId: sc.traceId,
        spanId: sc.spanId,
        parentSpanId: parent ? parent.spanId : '',
        traceState: sc.traceState ? sc.traceState.serialize() : '',
        traceFlags: sc.traceFlags,
        name: rs.name,
        kind: otlpKind(rs.kind),
        startTimeUnixNano: hrToNs(rs.startTime),
        endTimeUnixNano: hrToNs(rs.endTime),
        attributes: plainAttrs(rs.attributes),
        droppedAttributesCount: rs.droppedAttributesCount || 0,
        events: rs.events.map((e) => ({
            name: e.name,
            timeUnixNano: hrToNs(e.time),
            attributes: plainAttrs(e.attributes),
            droppedAttributesCount: e.droppedAttributesCount || 0,
        })),
        droppedEventsCount: rs.droppedEventsCount || 0,
        links: rs.links.map((l) => ({
            traceId: l.context.traceId,
            spanId: l.context.spanId,
            traceState: l.context.traceState ? l.context.traceState.serialize() : '',
            attributes: plainAttrs(l.attributes),
            droppedAttributesCount: l.droppedAttributesCount || 0,
        })),
        droppedLinksCount: rs.droppedLinksCount || 0,
        status: { code: rs.status.code, message: rs.status.message || '' },
        resource: plainAttrs(rs.resource.attributes),
        scope: { name: rs.instrumentationScope.name, version: rs.instrumentationScope.version || '' },
        exported,
    };
}

const CHILD_KINDS = [api.SpanKind.INTERNAL, api.SpanKind.CLIENT, api.SpanKind.PRODUCER,
    api.SpanKind.CONSUMER, api.SpanKind.SERVER];

/* Spans in trace t when N spans are spread over T traces. */
const traceSize = (o, t) => Math.floor(o.spans / o.traces) + (t < o.spans % o.traces ? 1 : 0);

/* Creates trace t, whose first span is span number `made`, starting at t0 (ns), and adds
 * its root to prevRoots. Times are explicit nanosecond HrTimes so that they survive exactly. */
function makeTrace(tracers, o, t, made, t0, prevRoots) {
    const count = traceSize(o, t);
    const tracer = tracers[t % tracers.length];
    const spans = [];
    for (let j = 0; j < count; j++) {
        const n = made + j;
        const start = t0 + BigInt(j) * 1000n + BigInt(n % 997);
        const end = start + 250000n + BigInt((n * 7919) % 100000);
        const attributes = {
            'app.index': n,
            'app.trace': t,
            'app.big': 2 ** 40 + n,
            'app.negative': -17 - j,
            'app.ratio': j + 0.25,
            'app.flag': j % 2 === 0,
            'app.text': `héllo ✓ ${t}/${j}`,
            'app.empty': '',
            'app.tags': ['alpha', `t${t}`, 'γ'],
            'app.ints': [1, -2, 3 + j],
            'app.doubles': [1.5, -2.75],
            'app.bools': [true, false, j % 3 === 0],
        };
        const opts = { startTime: nsToHr(start), attributes };
        let ctx = api.ROOT_CONTEXT;
        if (j === 0) {
            opts.kind = api.SpanKind.SERVER;
            opts.attributes['http.request.method'] = 'GET';
            if (o.remoteParents) ctx = api.trace.setSpanContext(api.ROOT_CONTEXT, o.remoteParents[t]);
        } else {
            opts.kind = CHILD_KINDS[(j - 1) % CHILD_KINDS.length];
            /* Parents vary: the root, the previous span, or one in between. */
            const p = j % 3 === 0 ? 0 : (j % 3 === 1 ? j - 1 : Math.floor(j / 2));
            ctx = api.trace.setSpan(api.ROOT_CONTEXT, spans[p].span);
        }
        if (n % 3 === 1 && prevRoots.length > 0) {
            const target = prevRoots[prevRoots.length - 1];
            opts.links = [{
                context: { ...target, traceState: api.createTraceState('vendor=a1,other=b2') },
                attributes: { 'link.reason': 'follows', 'link.index': n },
            }];
        }
        const span = tracer.startSpan(j === 0 ? `GET /trace/${t}` : `step-${j} of ${t}`, opts, ctx);
        span.addEvent('started', { 'event.index': 0, 'event.note': `n=${n}` }, nsToHr(start + 1000n));
        if (n % 2 === 0) {
            span.addEvent('checkpoint', { 'event.ok': true, 'event.ratio': 0.5 }, nsToHr(start + 2000n));
        }
        if (n % 4 === 1) span.setStatus({ code: api.SpanStatusCode.ERROR, message: `failure ${n}` });
        else if (n % 4 === 2) span.setStatus({ code: api.SpanStatusCode.OK });
        spans.push({ span, end });
    }
    /* Children end before their parents start ending: end in reverse creation order. */
    for (let j = spans.length - 1; j >= 0; j--) spans[j].span.end(nsToHr(spans[j].end));
    prevRoots.push(spans[0].span.spanContext());
}

/* Creates every span at once, in the past. */
function generate(tracers, o) {
    const base = BigInt(Date.now() - 60000) * 1000000n + 123457n;
    const prevRoots = [];
    let made = 0;
    for (let t = 0; t < o.traces; t++) {
        makeTrace(tracers, o, t, made, base + BigInt(t) * 5000000n, prevRoots);
        made += traceSize(o, t);
    }
}

/* Creates the spans at o.rate per second, each trace stamped with the time it is made. */
async function generatePaced(tracers, o) {
    const started = Date.now();
    const prevRoots = [];
    let made = 0;
    for (let t = 0; t < o.traces; t++) {
        const due = started + (made * 1000) / o.rate;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
        makeTrace(tracers, o, t, made, BigInt(Date.now()) * 1000000n + 123457n, prevRoots);
        made += traceSize(o, t);
    }
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const started = Date.now();
    const diagMessages = [];
    api.diag.setLogger({
        error: (...a) => diagMessages.push({ level: 'error', msg: a.map(String).join(' ') }),
        warn: (...a) => diagMessages.push({ level: 'warn', msg: a.map(String).join(' ') }),
        info: () => {}, debug: () => {}, verbose: () => {},
    }, api.DiagLogLevel.WARN);

    const summary = {
        exporter: o.exporter, endpoint: o.endpoint, url: null, processor: o.processor,
        requestedSpans: o.spans, traces: o.traces,
        ok: false, exported: 0, failed: 0, error: null, exportCalls: [],
        resource: {}, scopes: SCOPES, spans: [], diag: diagMessages, durationMs: 0,
    };
    let recorder = null;
    let provider = null;
    const finish = (code) => {
        if (recorder) {
            summary.exportCalls = recorder.calls;
            summary.spans = recorder.spans.map((r) => summarizeSpan(r.span, r.exported));
            summary.exported = recorder.spans.filter((r) => r.exported).length;
            summary.failed = recorder.spans.length - summary.exported;
        }
        summary.durationMs = Date.now() - started;
        const text = JSON.stringify(summary);
        if (o.out) fs.writeFileSync(o.out, text + '\n');
        else process.stdout.write(text + '\n');
        process.exitCode = code;
    };
    const guard = setTimeout(() => {
        summary.error = `deadline of ${o.deadlineMs} ms reached before shutdown finished`;
        finish(3);
        process.exit(3);
    }, o.deadlineMs);

    try {
        const { exporter, url } = makeExporter(o);
        summary.url = url;
        recorder = new RecordingExporter(exporter);
        const resAttrs = { ...o.resourceAttrs, 'process.pid': process.pid, 'emit.exporter': o.exporter };
        let resource;
        if (o.service === '') {
            resource = resourceFromAttributes(resAttrs);
        } else {
            resource = defaultResource().merge(resourceFromAttributes({ ...resAttrs, 'service.name': o.service }));
        }
        summary.resource = plainAttrs(resource.attributes);
        const processor = o.processor === 'simple'
            ? new SimpleSpanProcessor(recorder)
            : new BatchSpanProcessor(recorder, {
                maxExportBatchSize: o.batchSize,
                maxQueueSize: Math.max(2048, o.spans),
                scheduledDelayMillis: 200,
                exportTimeoutMillis: o.timeoutMs + 1000,
            });
        provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
        const tracers = SCOPES.map((s) => provider.getTracer(s.name, s.version));
        if (o.rate === null) generate(tracers, o);
        else await generatePaced(tracers, o);
        await provider.forceFlush();
        await provider.shutdown();
        provider = null;
        const failedCalls = recorder.calls.filter((c) => c.code !== 'SUCCESS');
        summary.ok = failedCalls.length === 0 && recorder.spans.length === o.spans;
        if (failedCalls.length > 0) {
            summary.error = failedCalls.map((c) => c.error || 'export failed').join('; ');
        } else if (recorder.spans.length !== o.spans) {
            summary.error = `exporter was given ${recorder.spans.length} spans, ${o.spans} were made`;
        }
    } catch (e) {
        summary.ok = false;
        summary.error = String(e && (e.stack || e));
        if (provider) {
            try { await provider.shutdown(); } catch (_) { /* already reported */ }
        }
    }
    clearTimeout(guard);
    finish(summary.ok ? 0 : 1);
}

/* sample.js builds its exporters the same way. */
module.exports = { makeExporter, RecordingExporter };

if (require.main === module) main();
