// Known-truth workload for tandem's V8 frames: three functions share the CPU 50/20/30 by
// design, one of them a closure and one reached through an async function. The program
// measures what each got (process.cpuUsage around each call) and prints the shares every
// 0.2 s: "truth alpha=A beta=B gamma=G" in percent, the reference a test compares with.
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
function timed(key, work) {
    const before = process.cpuUsage();
    const result = work();
    const after = process.cpuUsage(before);
    spent[key] += after.user + after.system;
    return result;
}

let lastReport = Date.now();
function report() {
    const total = spent.alpha + spent.beta + spent.gamma;
    if (total === 0) return;
    const pct = (v) => (100 * v / total).toFixed(1);
    console.log(`truth alpha=${pct(spent.alpha)} beta=${pct(spent.beta)} gamma=${pct(spent.gamma)}`);
}

const seconds = Number(process.argv[2] || 20);
const end = Date.now() + seconds * 1000;
console.log(`ready pid=${process.pid}`);
async function main() {
    while (Date.now() < end) {
        timed('alpha', () => fnAlpha(5));
        timed('beta', () => fnBeta(2));
        const before = process.cpuUsage();
        await fnGamma(3);
        const after = process.cpuUsage(before);
        spent.gamma += after.user + after.system;
        if (Date.now() - lastReport >= 200) {
            lastReport = Date.now();
            report();
        }
    }
    report();
}
main();
