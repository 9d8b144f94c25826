#!/usr/bin/env node
'use strict';
/*
 * sample.js — traces decided by real OpenTelemetry JS SDK samplers, for spanrelay's
 * sampling tests (tests/integration/test_sampling.py).
 *
 *   node sample.js --endpoint URL --ids FILE --out FILE --hop-a SAMPLER [--hop-b SAMPLER]
 *                  [--deadline-ms MS]
 *
 * SAMPLER is one of
 *   env            what the SDK builds from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
 *                  (sdk-trace-base's buildSamplerFromEnv), as an application container
 *                  configured by the Helm chart gets it
 *   composite:P    CompositeSampler(ParentThreshold(Probability(P))) from
 *                  @opentelemetry/sampler-composite: consistent probability, writes ot=th
 *   always_on      ParentBased(AlwaysOn)
 *
 * One trace per line of FILE (a 32-hex-digit trace id), in order. Hop A starts it: a
 * server root, an internal child and a client child. With --hop-b, the client's context
 * crosses to a second process's SDK as W3C traceparent/tracestate headers (core's
 * W3CTraceContextPropagator, inject then extract), where hop B continues the trace with a
 * server span and an internal child. Each hop has its own TracerProvider (service.name
 * sample-a, sample-b), sampler and gRPC exporter to URL (emit.js's makeExporter).
 * Writes to --out one JSON summary: ok, error, and every span each exporter was given
 * ({traceId, spanId, parentSpanId, traceState, hop, name}). Exit 0 when every export
 * succeeded, 1 otherwise, 2 on bad usage, 3 when the deadline fired.
 */

const fs = require('fs');
const crypto = require('crypto');
const api = require('@opentelemetry/api');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, AlwaysOnSampler } =
    require('@opentelemetry/sdk-trace-base');
const { buildSamplerFromEnv } = require('@opentelemetry/sdk-trace-base/build/src/config');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const composite = require('@opentelemetry/sampler-composite');
const { makeExporter, RecordingExporter } = require('./emit');

function usage(msg) {
    if (msg) process.stderr.write(`sample.js: ${msg}\n`);
    process.stderr.write('usage: node sample.js --endpoint URL --ids FILE --out FILE ' +
        '--hop-a SAMPLER [--hop-b SAMPLER] [--deadline-ms MS]\n');
    process.exit(2);
}

function parseArgs(argv) {
    const o = { endpoint: null, ids: null, out: null, hopA: null, hopB: null, deadlineMs: 60000 };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
        switch (a) {
        case '--endpoint': o.endpoint = v(); break;
        case '--ids': o.ids = v(); break;
        case '--out': o.out = v(); break;
        case '--hop-a': o.hopA = v(); break;
        case '--hop-b': o.hopB = v(); break;
        case '--deadline-ms': o.deadlineMs = Number(v()); break;
        default: usage(`unknown argument "${a}"`);
        }
    }
    if (!o.endpoint || !o.ids || !o.out || !o.hopA) usage('--endpoint, --ids, --out and --hop-a are required');
    return o;
}

function makeSampler(spec) {
    if (spec === 'env') return buildSamplerFromEnv();
    if (spec === 'always_on') return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    const m = /^composite:([0-9.]+)$/.exec(spec);
    if (m) {
        return composite.createCompositeSampler(composite.createComposableParentThresholdSampler(
            composite.createComposableProbabilitySampler(Number(m[1]))));
    }
    return usage(`unknown sampler "${spec}"`);
}

/* Trace ids from the file, in order; span ids random. */
class ListedIds {
    constructor(ids) { this.ids = ids; this.next = 0; }
    generateTraceId() {
        if (this.next >= this.ids.length) throw new Error('more traces than listed ids');
        return this.ids[this.next++];
    }
    generateSpanId() { return crypto.randomBytes(8).toString('hex'); }
}

function makeHop(name, samplerSpec, ids, o, spanCount) {
    const recorder = new RecordingExporter(makeExporter({
        exporter: 'grpc', endpoint: o.endpoint, timeoutMs: 10000, compression: 'none',
        spans: spanCount, batchSize: 512, headers: {},
    }).exporter);
    const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': `sample-${name}` }),
        sampler: makeSampler(samplerSpec),
        idGenerator: new ListedIds(ids),
        spanProcessors: [new BatchSpanProcessor(recorder, {
            maxExportBatchSize: 512, maxQueueSize: Math.max(2048, spanCount),
            scheduledDelayMillis: 200, exportTimeoutMillis: 11000,
        })],
    });
    return { name, recorder, provider, tracer: provider.getTracer(`sample.${name}`, '1.0.0') };
}

function runTrace(a, b, propagator) {
    const root = a.tracer.startSpan('GET /checkout', { kind: api.SpanKind.SERVER }, api.ROOT_CONTEXT);
    const rootCtx = api.trace.setSpan(api.ROOT_CONTEXT, root);
    const work = a.tracer.startSpan('validate', { kind: api.SpanKind.INTERNAL }, rootCtx);
    work.end();
    const call = a.tracer.startSpan('POST /charge', { kind: api.SpanKind.CLIENT }, rootCtx);
    if (b) {
        const headers = {};
        propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, call), headers, api.defaultTextMapSetter);
        const remote = propagator.extract(api.ROOT_CONTEXT, headers, api.defaultTextMapGetter);
        const server = b.tracer.startSpan('POST /charge', { kind: api.SpanKind.SERVER }, remote);
        const inner = b.tracer.startSpan('db.query', { kind: api.SpanKind.INTERNAL },
            api.trace.setSpan(remote, server));
        inner.end();
        server.end();
    }
    call.end();
    root.end();
}

function summarize(hop) {
    return hop.recorder.spans.map(({ span, exported }) => {
        const sc = span.spanContext();
        return {
            traceId: sc.traceId,
            spanId: sc.spanId,
            parentSpanId: span.parentSpanContext ? span.parentSpanContext.spanId : '',
            traceState: sc.traceState ? sc.traceState.serialize() : '',
            hop: hop.name,
            name: span.name,
            exported,
        };
    });
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const summary = { ok: false, error: null, spans: [] };
    const hops = [];
    const finish = (code) => {
        summary.spans = hops.flatMap(summarize);
        fs.writeFileSync(o.out, JSON.stringify(summary) + '\n');
        process.exitCode = code;
    };
    const guard = setTimeout(() => {
        summary.error = `deadline of ${o.deadlineMs} ms reached`;
        finish(3);
        process.exit(3);
    }, o.deadlineMs);

    try {
        const ids = fs.readFileSync(o.ids, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
        const a = makeHop('a', o.hopA, ids, o, ids.length * 3);
        const b = o.hopB ? makeHop('b', o.hopB, [], o, ids.length * 2) : null;
        hops.push(a);
        if (b) hops.push(b);
        const propagator = new W3CTraceContextPropagator();
        for (let i = 0; i < ids.length; i++) runTrace(a, b, propagator);
        for (const h of hops) {
            await h.provider.forceFlush();
            await h.provider.shutdown();
        }
        const failed = hops.flatMap((h) => h.recorder.calls).filter((c) => c.code !== 'SUCCESS');
        summary.ok = failed.length === 0;
        if (failed.length > 0) summary.error = failed.map((c) => c.error || 'export failed').join('; ');
    } catch (e) {
        summary.error = String(e && (e.stack || e));
    }
    clearTimeout(guard);
    finish(summary.ok ? 0 : 1);
}

main();
