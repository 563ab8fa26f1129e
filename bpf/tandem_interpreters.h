/*
 * Every interpreter walker's shared structs, one header per runtime. Each runtime owns
 * its ring-buffer event kinds and counter indexes, numbered here so that none collide:
 *
 * | runtime | event kinds | counters |
 * |---|---|---|
 * | CPython (tandem_cpython.h) | 4, 5 | 14-17 |
 * | HotSpot JVM (tandem_hotspot.h) | 7, 8 | 22-25 |
 * | V8 | 9, 10 | 26-29 |
 * | Perl | 11, 12 | 30-33 |
 * | Ruby | 13, 14 | 34-37 |
 * | PHP (tandem_php.h) | 15, 16 | 38-41, 46-47 |
 * | Erlang BEAM (tandem_beam.h) | 17, 18 | 42-45, 48-50 |
 *
 * Event kinds stay below 64 and counters below TANDEM_COUNTER_COUNT (tandem_sampler.h).
 */
#ifndef TANDEM_INTERPRETERS_H
#define TANDEM_INTERPRETERS_H

#include "tandem_cpython.h"
#include "tandem_hotspot.h"
#include "tandem_perl.h"
#include "tandem_ruby.h"
#include "tandem_php.h"
#include "tandem_v8.h"
#include "tandem_beam.h"

/* Each walker's program's index in the sampling program's interpreter_programs. */
enum tandem_runtime {
    TANDEM_RUNTIME_CPYTHON = 0,
    TANDEM_RUNTIME_PERL = 1,
    TANDEM_RUNTIME_RUBY = 2,
    TANDEM_RUNTIME_PHP = 3,
    TANDEM_RUNTIME_V8 = 4,
    TANDEM_RUNTIME_JVM = 5,
    TANDEM_RUNTIME_BEAM = 6,
    TANDEM_RUNTIMES = 7,
};

/* The processes some walker follows, in all: each runtime follows at most 4096, and few hosts
 * run more than two runtimes' worth at once. A loader that finds it full refuses the process. */
#define TANDEM_INTERPRETER_MAX_PROCESSES 8192

#endif
