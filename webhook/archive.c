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

int webhook_archive_extract(const char *archive_path, const char *dest,
                            const webhook_archive_limits *lim, const webhook_archive_progress *prog,
                            webhook_archive_stats *st, char *err, size_t errlen)
{
    int rc = -1;
    int rootfd = -1;
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    char *buf = xmalloc(64 * 1024);
    memset(st, 0, sizeof *st);

    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_filename(a, archive_path, 64 * 1024) != ARCHIVE_OK) {
        snprintf(err, errlen, "configuration archive: %s", archive_error_string(a));
        goto out;
    }
    rootfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0) {
        snprintf(err, errlen, "%s: %s", dest, strerror(errno));
        goto out;
    }
    int64_t entries = 0;
    for (;;) {
        if (progress(prog, err, errlen))
            goto out;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            snprintf(err, errlen, "configuration archive: %s", archive_error_string(a));
            goto out;
        }
        if (++entries > lim->max_entries) {
            snprintf(err, errlen,
                     "configuration archive has more than %lld entries (limit "
                     "--max-archive-entries)",
                     (long long)lim->max_entries);
            goto out;
        }
        const char *name = archive_entry_pathname(e);
        if (!name || !*name) {
            refuse(st, "(no name)", "empty path");
            continue;
        }
        mode_t type = archive_entry_filetype(e);
        if (archive_entry_hardlink(e)) {
            refuse(st, name, "hard link");
            continue;
        }
        if (type == AE_IFLNK || archive_entry_symlink(e)) {
            refuse(st, name, "symbolic link");
            continue;
        }
        if (type != AE_IFREG && type != AE_IFDIR) {
            refuse(st, name, "not a regular file or directory");
            continue;
        }
        char path[4096];
        if (strlen(name) >= sizeof path) {
            refuse(st, "(long name)", "path too long");
            continue;
        }
        snprintf(path, sizeof path, "%s", name);
        char *comps[MAX_DEPTH];
        const char *why = NULL;
        int n = split_path(path, comps, &why);
        if (n < 0) {
            refuse(st, name, why);
            continue;
        }
        if (type == AE_IFDIR) {
            int fd = open_dirs(rootfd, comps, n, err, errlen);
            if (fd < 0)
                goto out;
            close(fd);
            st->dirs++;
            continue;
        }
        if (n == 0) {
            refuse(st, name, "no file name");
            continue;
        }
        int dfd = open_dirs(rootfd, comps, n - 1, err, errlen);
        if (dfd < 0)
            goto out;
        int fd =
            openat(dfd, comps[n - 1], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        close(dfd);
        if (fd < 0) {
            if (errno == EEXIST) {
                refuse(st, name, "duplicate entry");
                continue;
            }
            snprintf(err, errlen, "cannot create '%.200s': %s", name, strerror(errno));
            goto out;
        }
        for (;;) {
            if (progress(prog, err, errlen)) {
                close(fd);
                goto out;
            }
            la_ssize_t got = archive_read_data(a, buf, 64 * 1024);
            if (got == 0)
                break;
            if (got < 0) {
                snprintf(err, errlen, "configuration archive: %s", archive_error_string(a));
                close(fd);
                goto out;
            }
            st->bytes += got;
            if (st->bytes > lim->max_bytes) {
                snprintf(err, errlen,
                         "configuration archive unpacks to more than %lld bytes "
                         "(limit --max-archive-bytes)",
                         (long long)lim->max_bytes);
                close(fd);
                goto out;
            }
            if (write(fd, buf, (size_t)got) != got) {
                snprintf(err, errlen, "cannot write '%.200s': %s", name, strerror(errno));
                close(fd);
                goto out;
            }
        }
        close(fd);
        st->files++;
    }
    rc = 0;
out:
    if (rootfd >= 0)
        close(rootfd);
    archive_read_free(a);
    free(buf);
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
