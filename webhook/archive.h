/* Configuration archives (pre_plan): a .tar.gz as HCP Terraform's
 * configuration_version_download_url serves it, unpacked into a private
 * directory and scanned.
 *
 * Hostile archives are expected: entries with ".." components, absolute
 * paths, symlinks, hard links, devices and FIFOs are refused (skipped and
 * counted, never written); every file and directory is created with
 * openat(O_NOFOLLOW | O_EXCL) relative to the destination's descriptor, so
 * nothing can land outside it; more entries or unpacked bytes than the limits
 * (archive bombs) end the extraction with an error. Any thread. */
#ifndef IG_WEBHOOK_ARCHIVE_H
#define IG_WEBHOOK_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"
#include "scanners/scan.h"

typedef struct webhook_archive_limits {
    int64_t max_bytes;   /* unpacked bytes in all */
    int64_t max_entries; /* entries of any kind, refused ones included */
} webhook_archive_limits;

/* A hook for long work: fn(arg) is called between pieces of it -- every
 * entry and every 64 KiB unpacked, every directory entry walked -- so the
 * caller can renew a lease or report progress (the delivery's tick). It
 * knows nothing of deliveries. A non-zero return stops the work: the
 * function returns -1 with "stopped" in err. NULL (or fn NULL) = none. */
typedef struct webhook_archive_progress {
    int (*fn)(void *arg);
    void *arg;
} webhook_archive_progress;

typedef struct webhook_archive_stats {
    int64_t files, dirs, bytes;
    int64_t refused;         /* entries skipped */
    char first_refused[256]; /* "../escape.tf: '..' in the path" */
} webhook_archive_stats;

/* Unpacks archive_path (tar, optionally gzip/bzip2/xz compressed) into the
 * existing, empty directory dest. Returns 0 (refused entries are in *st), or
 * -1 with the reason in err (limits, a corrupt archive, I/O, stopped by
 * prog). What was written stays in dest for the caller to remove. prog may
 * be NULL. */
int webhook_archive_extract(const char *archive_path, const char *dest,
                            const webhook_archive_limits *lim, const webhook_archive_progress *prog,
                            webhook_archive_stats *st, char *err, size_t errlen);

/* Scans every .tf, .tfvars, .tf.json and .tfvars.json file under root with
 * scan_config_text, naming files relative to workdir (a path inside root such
 * as "terraform"; "" = root). Files outside workdir are named from the root
 * with a leading "/". Symlinks are never followed. Appends to *res; *files
 * counts the files scanned. prog (may be NULL) is called before each
 * directory entry; one file's scan is not interrupted. Returns 0 or -1 with
 * err. */
int webhook_archive_scan(const char *root, const char *workdir, const rules *rs, rules_matcher *m,
                         int64_t max_file_bytes, const webhook_archive_progress *prog,
                         scan_result *res, int64_t *files, char *err, size_t errlen);

/* Removes root and everything below it without following links. */
void webhook_remove_tree(const char *root);

#endif
