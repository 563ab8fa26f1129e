// Known-truth workload for tandem's V8 frames (docs/v8.md, Tests/EndToEndTests/V8Tests.swift):
// three functions share the CPU 50/20/30 by design, one of them a closure (named by V8 from
// the variable it is assigned to) and one reached through an async function. The truth the
// tests use is measured: each function's CPU time (process.cpuUsage around each call),
// cumulative, printed every 0.2 s as `truth alpha=US beta=US gamma=US` (microseconds).
//
// usage: node known_truth.js [SECONDS]   (without SECONDS: runs until killed; prints "ready")
'use strict';

function spin(units) {
    let x = 0;
    for (let i = 0; i < units * 20000; i++) x = (x * 31 + i) % 1000003;
    return x;
}

function fnAlpha(units) {
    return spin(units);
}

function makeBeta() {
    let calls = 0;
    // A closure: V8 names it from the variable it is assigned to (its inferred name).
    const beta = (units) => { calls++; return spin(units); };
    return beta;
}
const fnBeta = makeBeta();

async function fnGamma(units) {
    await null;
    return spin(units);
}

const spent = { alpha: 0, beta: 0, gamma: 0 };
function cpu(before) {
    const used = process.cpuUsage(before);
    return used.user + used.system;
}
function timed(key, work) {
    const before = process.cpuUsage();
    const result = work();
    spent[key] += cpu(before);
    return result;
}

function report() {
    console.log(`truth alpha=${spent.alpha} beta=${spent.beta} gamma=${spent.gamma}`);
}

const seconds = Number(process.argv[2] || Infinity);
const end = Date.now() + seconds * 1000;
let lastReport = 0;
console.log(`ready pid=${process.pid}`);
async function main() {
    while (Date.now() < end) {
        timed('alpha', () => fnAlpha(5));
        timed('beta', () => fnBeta(2));
        const before = process.cpuUsage();
        await fnGamma(3);
        spent.gamma += cpu(before);
        if (Date.now() - lastReport >= 200) {
            lastReport = Date.now();
            report();
        }
    }
    report();
}
main();
