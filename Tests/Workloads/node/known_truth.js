// Known-truth workload for tandem's V8 frames (docs/v8.md, Tests/EndToEndTests/V8Tests.swift):
// three functions share the CPU 50/20/30 by design, one of them a closure (named by V8 from
// the variable it is assigned to) and one reached through an async function. The truth the
// tests use is measured: each function's CPU time (process.cpuUsage around its work),
// cumulative, printed every 0.2 s as `truth alpha=US beta=US gamma=US` (microseconds).
//
// usage: node known_truth.js [SECONDS]   (without SECONDS: runs until killed; prints "ready")
'use strict';

// Each call's length varies at random around units × 20,000 steps, so the loop's period
// does not stay in step with the sampler's (at 999 Hz against a loop of about 1 ms, a fixed
// period puts the samples in the same phase of it for seconds and skews the shares).
function spin(units) {
    let x = 0;
    const steps = units * (10000 + Math.floor(Math.random() * 20000));
    for (let i = 0; i < steps; i++) x = (x * 31 + i) % 1000003;
    return x;
}

const spent = { alpha: 0, beta: 0, gamma: 0 };
function cpu(before) {
    const used = process.cpuUsage(before);
    return used.user + used.system;
}
// Each function measures its own work, so the truth holds no time of the caller or of the
// promise machinery around the await (samples name neither as one of the three).
function measured(key, units) {
    const before = process.cpuUsage();
    const result = spin(units);
    spent[key] += cpu(before);
    return result;
}

function fnAlpha(units) {
    return measured('alpha', units);
}

function makeBeta() {
    let calls = 0;
    // A closure: V8 names it from the variable it is assigned to (its inferred name).
    const beta = (units) => { calls++; return measured('beta', units); };
    return beta;
}
const fnBeta = makeBeta();

async function fnGamma(units) {
    await null;
    return measured('gamma', units);
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
        fnAlpha(5);
        fnBeta(2);
        await fnGamma(3);
        if (Date.now() - lastReport >= 200) {
            lastReport = Date.now();
            report();
        }
    }
    report();
}
main();
