#!/usr/bin/env node
'use strict';
/*
 * validate.js — checks rendered Kubernetes manifests offline, without a cluster.
 *
 *   helm template ... | node validate.js [--json] [FILE|-]
 *   node validate.js --parse-only [--json] [FILE|-]
 *
 * Reads every YAML document of FILE (or standard input), skips empty ones (helm leaves
 * them where a template rendered nothing), and validates each object against the
 * Kubernetes OpenAPI schema of its apiVersion and kind with the kubernetes-models classes
 * (required fields, types, enums, formats). An object whose apiVersion/kind has no model
 * is an error: the chart renders only built-in kinds.
 *
 * --json        print the parsed documents as one JSON array on standard output, so a
 *               caller without a YAML parser can inspect them.
 * --parse-only  parse and print (implies --json), no validation: for YAML that is not a
 *               Kubernetes object, such as the daemon configuration inside a ConfigMap.
 *
 * Exit 0 when every object is valid, 1 when one is not (each problem on standard error
 * as "Kind/name: path message"), 2 on bad usage or YAML that does not parse.
 *
 * The models do not reject fields unknown to Kubernetes (their schemas are open), so a
 * misspelt field passes here; the tests check the fields they care about by name.
 */

const fs = require('fs');
const yaml = require('js-yaml');

function usage(msg) {
    process.stderr.write(`validate.js: ${msg}\n` +
        'usage: node validate.js [--json] [--parse-only] [FILE|-]\n');
    process.exit(2);
}

function parseArgs(argv) {
    const opts = { json: false, parseOnly: false, file: '-' };
    let files = 0;
    for (const a of argv) {
        if (a === '--json') opts.json = true;
        else if (a === '--parse-only') { opts.parseOnly = true; opts.json = true; }
        else if (a.startsWith('--')) usage(`unknown option ${a}`);
        else { opts.file = a; files++; }
    }
    if (files > 1) usage('at most one FILE');
    return opts;
}

/* "apps/v1" -> kubernetes-models/apps/v1, "v1" (the core group) -> kubernetes-models/v1. */
function modelClass(apiVersion, kind) {
    if (typeof apiVersion !== 'string' || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion))
        return null;
    let mod;
    try {
        mod = require(`kubernetes-models/${apiVersion}`);
    } catch (e) {
        return null;
    }
    const cls = mod[kind];
    return typeof cls === 'function' ? cls : null;
}

function describe(obj, index) {
    const kind = (obj && obj.kind) || '?';
    const name = (obj && obj.metadata && obj.metadata.name) || `#${index}`;
    return `${kind}/${name}`;
}

function validateObject(obj, index) {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
        return [`document #${index}: not a mapping`];
    const cls = modelClass(obj.apiVersion, obj.kind);
    if (!cls)
        return [`${describe(obj, index)}: no Kubernetes model for apiVersion ${JSON.stringify(obj.apiVersion)} kind ${JSON.stringify(obj.kind)}`];
    try {
        new cls(obj).validate();
    } catch (e) {
        /* ajv joins its errors as "data/spec/... must ..., data/... must ...". */
        return String(e.message).split(/\n|, (?=data[/ ])/).filter(Boolean)
            .map((line) => `${describe(obj, index)}: ${line.replace(/^data\/?/, '').trim()}`);
    }
    return [];
}

function main() {
    const opts = parseArgs(process.argv.slice(2));
    let text;
    try {
        text = fs.readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
    } catch (e) {
        usage(`cannot read ${opts.file}: ${e.message}`);
    }
    let docs;
    try {
        docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
    } catch (e) {
        process.stderr.write(`validate.js: YAML does not parse: ${e.message}\n`);
        process.exit(2);
    }
    const problems = opts.parseOnly ? [] : docs.flatMap((d, i) => validateObject(d, i));
    if (opts.json) process.stdout.write(JSON.stringify(docs) + '\n');
    if (problems.length) {
        process.stderr.write(problems.map((p) => `invalid: ${p}`).join('\n') + '\n');
        process.exit(1);
    }
    if (!opts.json)
        process.stderr.write(`validate.js: ${docs.length} object(s) valid\n`);
}

main();
