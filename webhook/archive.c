/* Safe unpacking. libarchive is used only as a parser: this file decides
 * what gets written and where, walking each entry's path one component at a
 * time with openat()/mkdirat() relative to a directory descriptor and
 * O_NOFOLLOW at every step. Because no link is ever created, later entries
 * cannot be redirected through one either. The scan that follows walks the
 * tree the same way (fdopendir + openat O_NOFOLLOW). */
#include "webhook/archive.h"

#include "common/strbuf.h"
#include "common/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 64

/* Non-zero (with err set) when the caller's progress hook says stop. */
static int progress(const webhook_archive_progress *prog, char *err, size_t errlen)
{
    if (!prog || !prog->fn || prog->fn(prog->arg) == 0)
        return 0;
    snprintf(err, errlen, "stopped");
    return 1;
}

static void refuse(webhook_archive_stats *st, const char *path, const char *why)
{
    if (st->refused++ != 0)
        return;
    /* at most 200 bytes of the name, cut between two UTF-8 characters */
    size_t n = str_utf8_prefix(path, 200);
    snprintf(st->first_refused, sizeof st->first_refused, "%.*s: %s", (int)n, path, why);
}

/* Checks a member name; fills comps (pointers into buf) and returns how many,
 * 0 for "the archive root" (".", "./"), or -1 with a reason. */
static int split_path(char *buf, char **comps, const char **why)
{
    if (buf[0] == '/') {
        *why = "absolute path";
        return -1;
    }
    int n = 0;
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            *why = "'..' in the path";
            return -1;
        }
        if (n >= MAX_DEPTH) {
            *why = "path too deep";
            return -1;
        }
        comps[n++] = c;
    }
    return n;
}

/* Opens (creating as needed) the directory comps[0..n) below dirfd. */
static int open_dirs(int dirfd, char **comps, int n, char *err, size_t errlen)
{
    int fd = dup(dirfd);
    for (int i = 0; i < n && fd >= 0; i++) {
        if (mkdirat(fd, comps[i], 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory '%s': %s", comps[i], strerror(errno));
            close(fd);
            return -1;
        }
        int next = openat(fd, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            snprintf(err, errlen, "cannot open directory '%s': %s", comps[i], strerror(errno));
        close(fd);
        fd = next;
    }
    return fd;
}

#define CHUNK (64 * 1024)

/* One extraction: the archive being read, the directory it unpacks into,
 * the caller's limits, hook and counts, and where an error goes. */
typedef struct extractor {
    struct archive *a;
    int rootfd;
    int64_t entries;
    const webhook_archive_limits *lim;
    const webhook_archive_progress *prog;
    webhook_archive_stats *st;
    char *buf; /* CHUNK bytes */
    char *err;
    size_t errlen;
} extractor;

/* Opens the archive (gzip, bzip2 or xz; tar) and the destination. */
static int open_input(extractor *x, const char *archive_path, const char *dest)
{
    archive_read_support_filter_gzip(x->a);
    archive_read_support_filter_bzip2(x->a);
    archive_read_support_filter_xz(x->a);
    archive_read_support_format_tar(x->a);
    archive_read_support_format_gnutar(x->a);
    if (archive_read_open_filename(x->a, archive_path, CHUNK) != ARCHIVE_OK) {
        snprintf(x->err, x->errlen, "configuration archive: %s", archive_error_string(x->a));
        return -1;
    }
    x->rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (x->rootfd < 0) {
        snprintf(x->err, x->errlen, "%s: %s", dest, strerror(errno));
        return -1;
    }
    return 0;
}

/* The next entry's header. Returns 1, 0 at the end, -1 on an error (a bad
 * archive, too many entries, the hook said stop). */
static int next_entry(extractor *x, struct archive_entry **e)
{
    if (progress(x->prog, x->err, x->errlen))
        return -1;
    int r = archive_read_next_header(x->a, e);
    if (r == ARCHIVE_EOF)
        return 0;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        snprintf(x->err, x->errlen, "configuration archive: %s", archive_error_string(x->a));
        return -1;
    }
    if (++x->entries > x->lim->max_entries) {
        snprintf(x->err, x->errlen,
                 "configuration archive has more than %lld entries (limit "
                 "--max-archive-entries)",
                 (long long)x->lim->max_entries);
        return -1;
    }
    return 1;
}

/* Checks an entry's kind and name. Returns the number of path components
 * (in comps, pointing into path), or -1 when the entry is refused. */
static int entry_path(extractor *x, struct archive_entry *e, char *path, size_t pathlen,
                      char **comps)
{
    const char *name = archive_entry_pathname(e), *why = NULL;
    mode_t type = archive_entry_filetype(e);
    if (!name || !*name) {
        refuse(x->st, "(no name)", "empty path");
        return -1;
    }
    if (archive_entry_hardlink(e))
        why = "hard link";
    else if (type == AE_IFLNK || archive_entry_symlink(e))
        why = "symbolic link";
    else if (type != AE_IFREG && type != AE_IFDIR)
        why = "not a regular file or directory";
    if (why) {
        refuse(x->st, name, why);
        return -1;
    }
    if (strlen(name) >= pathlen) {
        refuse(x->st, "(long name)", "path too long");
        return -1;
    }
    snprintf(path, pathlen, "%s", name);
    int n = split_path(path, comps, &why);
    if (n == 0 && type != AE_IFDIR)
        why = "no file name";
    if (why) {
        refuse(x->st, name, why);
        return -1;
    }
    return n;
}

/* Writes the current entry's data to fd, within the byte limit. */
static int copy_data(extractor *x, int fd, const char *name)
{
    for (;;) {
        if (progress(x->prog, x->err, x->errlen))
            return -1;
        la_ssize_t got = archive_read_data(x->a, x->buf, CHUNK);
        if (got == 0)
            return 0;
        if (got < 0) {
            snprintf(x->err, x->errlen, "configuration archive: %s", archive_error_string(x->a));
            return -1;
        }
        x->st->bytes += got;
        if (x->st->bytes > x->lim->max_bytes) {
            snprintf(x->err, x->errlen,
                     "configuration archive unpacks to more than %lld bytes "
                     "(limit --max-archive-bytes)",
                     (long long)x->lim->max_bytes);
            return -1;
        }
        if (write(fd, x->buf, (size_t)got) != got) {
            snprintf(x->err, x->errlen, "cannot write '%.200s': %s", name, strerror(errno));
            return -1;
        }
    }
}

/* A regular file at comps[0..n): created new (a second entry of the same
 * name is refused), never through a link. */
static int extract_file(extractor *x, const char *name, char **comps, int n)
{
    int dfd = open_dirs(x->rootfd, comps, n - 1, x->err, x->errlen);
    if (dfd < 0)
        return -1;
    int fd = openat(dfd, comps[n - 1], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int open_errno = errno;
    close(dfd);
    if (fd < 0 && open_errno == EEXIST) {
        refuse(x->st, name, "duplicate entry");
        return 0;
    }
    if (fd < 0) {
        snprintf(x->err, x->errlen, "cannot create '%.200s': %s", name, strerror(open_errno));
        return -1;
    }
    int rc = copy_data(x, fd, name);
    close(fd);
    if (rc == 0)
        x->st->files++;
    return rc;
}

/* One entry: a directory is made, a regular file written, anything else
 * refused (counted in the stats, not an error). */
static int extract_entry(extractor *x, struct archive_entry *e)
{
    char path[4096];
    char *comps[MAX_DEPTH];
    int n = entry_path(x, e, path, sizeof path, comps);
    if (n < 0)
        return 0;
    if (archive_entry_filetype(e) != AE_IFDIR)
        return extract_file(x, archive_entry_pathname(e), comps, n);
    int fd = open_dirs(x->rootfd, comps, n, x->err, x->errlen);
    if (fd < 0)
        return -1;
    close(fd);
    x->st->dirs++;
    return 0;
}

int webhook_archive_extract(const char *archive_path, const char *dest,
                            const webhook_archive_limits *lim, const webhook_archive_progress *prog,
                            webhook_archive_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    extractor x = {
        .a = archive_read_new(),
        .rootfd = -1,
        .lim = lim,
        .prog = prog,
        .st = st,
        .buf = xmalloc(CHUNK),
        .err = err,
        .errlen = errlen,
    };
    int rc = open_input(&x, archive_path, dest);
    struct archive_entry *e;
    while (rc == 0 && (rc = next_entry(&x, &e)) == 1)
        rc = extract_entry(&x, e);
    if (x.rootfd >= 0)
        close(x.rootfd);
    archive_read_free(x.a);
    free(x.buf);
    return rc;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int scannable(const char *name)
{
    return has_suffix(name, ".tf") || has_suffix(name, ".tfvars") || has_suffix(name, ".tf.json") ||
           has_suffix(name, ".tfvars.json");
}

typedef struct walk {
    const rules *rs;
    rules_matcher *m;
    int64_t max_file_bytes;
    scan_result *res;
    int64_t *files;
    const webhook_archive_progress *prog;
    const char *workdir; /* normalised: no leading/trailing '/' */
    char *err;
    size_t errlen;
} walk;

static char *display_name(const walk *w, const char *rel)
{
    size_t wl = strlen(w->workdir);
    if (wl == 0)
        return xstrdup(rel);
    if (strncmp(rel, w->workdir, wl) == 0 && rel[wl] == '/')
        return xstrdup(rel + wl + 1);
    return xasprintf("/%s", rel);
}

static int scan_file(walk *w, int dirfd, const char *name, const char *rel)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    int rc = 0;
    char *text = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > w->max_file_bytes)
        goto out;
    size_t len = (size_t)st.st_size;
    text = xmalloc(len + 1);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, text + got, len - got);
        if (r <= 0) {
            snprintf(w->err, w->errlen, "cannot read '%s': %s", rel,
                     r < 0 ? strerror(errno) : "short read");
            rc = -1;
            goto out;
        }
        got += (size_t)r;
    }
    text[len] = '\0';
    char *disp = display_name(w, rel);
    scan_config_text(w->rs, w->m, disp, text, len, w->res);
    free(disp);
    (*w->files)++;
out:
    free(text);
    close(fd);
    return rc;
}

static int walk_dir(walk *w, int fd, const char *rel, int depth)
{
    if (depth > MAX_DEPTH) {
        close(fd);
        return 0;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    /* Sorted for a stable finding order. */
    struct dirent **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        xgrow((void **)&names, &cap, n + 1, sizeof *names);
        names[n] = xmalloc(sizeof *de);
        memcpy(names[n], de, sizeof *de);
        n++;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1]->d_name, names[j]->d_name) > 0; j--) {
            struct dirent *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (progress(w->prog, w->err, w->errlen)) {
            rc = -1;
            break;
        }
        const char *name = names[i]->d_name;
        char *child = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
        struct stat st;
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISDIR(st.st_mode)) {
                int cfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (cfd >= 0)
                    rc = walk_dir(w, cfd, child, depth + 1);
            } else if (S_ISREG(st.st_mode) && scannable(name)) {
                rc = scan_file(w, dirfd(d), name, child);
            }
        }
        free(child);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int webhook_archive_scan(const char *root, const char *workdir, const rules *rs, rules_matcher *m,
                         int64_t max_file_bytes, const webhook_archive_progress *prog,
                         scan_result *res, int64_t *files, char *err, size_t errlen)
{
    char wd[1024];
    const char *p = workdir ? workdir : "";
    while (*p == '/')
        p++;
    snprintf(wd, sizeof wd, "%s", p);
    size_t wl = strlen(wd);
    while (wl && wd[wl - 1] == '/')
        wd[--wl] = '\0';
    walk w = {rs, m, max_file_bytes, res, files, prog, wd, err, errlen};
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", root, strerror(errno));
        return -1;
    }
    return walk_dir(&w, fd, "", 0);
}

static void remove_at(int parent, const char *name, int depth)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (fd >= 0 && !d)
        close(fd);
    if (d && depth < MAX_DEPTH + 4) {
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            xgrow((void **)&names, &cap, n + 1, sizeof *names);
            names[n++] = xstrdup(de->d_name);
        }
        for (size_t i = 0; i < n; i++) {
            if (unlinkat(dirfd(d), names[i], 0) < 0 && (errno == EISDIR || errno == EPERM))
                remove_at(dirfd(d), names[i], depth + 1);
            free(names[i]);
        }
        free(names);
    }
    if (d)
        closedir(d);
    unlinkat(parent, name, AT_REMOVEDIR);
}

void webhook_remove_tree(const char *root)
{
    if (!root || !*root)
        return;
    remove_at(AT_FDCWD, root, 0);
}
