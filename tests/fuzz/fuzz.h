/* Shared by the fuzz drivers in tests/fuzz/ (see docs/testing.md).
 *
 * Every driver is one file that defines LLVMFuzzerTestOneInput and is built
 * twice: with clang and libFuzzer (-DIG_FUZZ=ON, fuzz_NAME) to search for
 * inputs, and with any compiler against replay.c (replay_NAME) so that ctest
 * runs the seed corpus and every input that once crashed through the same
 * code in the normal and the sanitizer builds.
 *
 * Drivers check properties with FUZZ_CHECK, not assert(): release builds
 * define NDEBUG, and a replay that skipped its checks would prove nothing.
 * Drivers keep what they build once (rule sets, the default policy) in
 * statics initialised on the first input, so they stay reachable and are
 * not reported as leaks. Single-threaded. */
#ifndef IG_TESTS_FUZZ_H
#define IG_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (a crash for libFuzzer, a failed test for the replay) with the
 * location, the condition and a printf message. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* FNV-1a over bytes: drivers derive choices (chunk sizes, limits, fake
 * registry answers) from their input so that every run is reproducible. */
uint64_t fuzz_hash(const void *p, size_t n, uint64_t h);
#define FUZZ_HASH_INIT 1469598103934665603ULL

/* A fake registry for policy_eval: its answers (not tracked, revoked,
 * scheduled, active, several matches, channels, versions, a failing store)
 * are a function of the image ID / bucket asked about, so the evaluation
 * walks every branch without a store. */
extern const policy_lookup fuzz_lookup;

/* Checks a report: every format writes without error; the JSON and SARIF
 * outputs parse as JSON; no value the scanner marked sensitive appears in
 * any output (res: the scan the report came from; also, also_len: other
 * text the report may quote, such as the policy file with its exemption
 * reasons, or NULL); the run-task callback body built from it respects
 * RUNTASK.md's limits. */
void fuzz_check_report(const policy_report *rep, const scan_result *res, const void *also,
                       size_t also_len);

#endif
