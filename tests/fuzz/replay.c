/* Replays inputs through a fuzz driver without libFuzzer: linked with one
 * fuzz_NAME.c into replay_NAME, which ctest runs over the driver's seed
 * corpus and regression inputs (tests/fuzz/corpus/fuzz_NAME,
 * tests/fuzz/regressions/fuzz_NAME) in every build, the sanitizer build
 * included. A driver's checks abort, so a failing input fails the test.
 *
 * Arguments are files or directories (their regular files, sorted, names
 * starting with '.' and README* skipped); a directory that does not exist
 * counts as empty, so a driver without regressions needs no placeholder.
 * Each input is read into a buffer of exactly its size, as libFuzzer does,
 * so that ASan sees a read past its end. */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf || fread(buf, 1, n, f) != n) {
        fprintf(stderr, "replay: %s: short read\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    if (getenv("REPLAY_VERBOSE"))
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    /* an exact-size copy: a 0-byte input gets a valid pointer, no bytes */
    LLVMFuzzerTestOneInput(n ? buf : (const uint8_t *)"", n);
    free(buf);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_name(const struct dirent *de)
{
    return de->d_name[0] != '.' && strncmp(de->d_name, "README", 6) != 0;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            if (errno == ENOENT)
                continue;
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc |= run_file(argv[i]);
            count++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, skip_name, by_name);
        if (n < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        for (int j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
            struct stat fst;
            if (stat(path, &fst) == 0 && S_ISREG(fst.st_mode)) {
                rc |= run_file(path);
                count++;
            }
            free(names[j]);
        }
        free(names);
    }
    printf("replayed %zu inputs\n", count);
    return rc ? 1 : 0;
}
