/* Which files a step's process and its children open, whatever opens them (C libraries such as
 * Arrow, SQLite or HDF5, and programs such as cat or awk), for the step's manifest.
 *
 * Two ways in, one log:
 *  - LD_PRELOAD (step kernels, their templates, and every subprocess of a step): the dynamic
 *    linker puts these functions ahead of libc's for the whole process and its children;
 *  - mlpipe_readlog_hook() (the user's own live kernel, which jupyter_mlpipe did not start):
 *    rewrites the open/opendir/dlopen slots of the global offset table of every loaded object,
 *    and of each object dlopen() loads later, to point here.
 *
 * While MLPIPE_READLOG names a file, each successful open for reading (and each opendir) appends
 * one record, "R" or "D" followed by the absolute path and a NUL ("A" for a file looked for
 * and not found, which a later run might find; "S" for a path that a stat or access call found
 * absent: `os.path.exists`, `Path.is_file`, a shell's `test -e`; "T" for one such a call found,
 * under the folder MLPIPE_READLOG_ROOT names only), with one write() on an O_APPEND
 * descriptor, so concurrent processes never interleave records. Paths under a prefix listed in
 * MLPIPE_READLOG_SKIP (colon-separated, each ending in "/": the Python installation, /proc...)
 * are left out to keep the log short. With MLPIPE_READLOG unset each call costs one getenv().
 * Connections to other hosts are logged too ("N" host:port), to be named, not checked.
 * Opens that do not go through these functions escape: direct system calls (Go programs,
 * io_uring), statically linked programs, and files the dynamic linker itself maps.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef FILE *(*freopen_fn)(const char *, const char *, FILE *);
typedef DIR *(*opendir_fn)(const char *);
typedef void *(*dlopen_fn)(const char *, int);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*access_fn)(const char *, int);
typedef int (*stat_fn)(const char *, struct stat *);
typedef int (*stat64_fn)(const char *, struct stat64 *);
typedef int (*fstatat_fn)(int, const char *, struct stat *, int);
typedef int (*fstatat64_fn)(int, const char *, struct stat64 *, int);
typedef int (*xstat_fn)(int, const char *, struct stat *);
typedef int (*xstat64_fn)(int, const char *, struct stat64 *);
typedef int (*statx_fn)(int, const char *, int, unsigned int, struct statx *);
typedef int (*faccessat_fn)(int, const char *, int, int);

static void *real(const char *name, void *self) {
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL || f == self) {
        void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        f = libc ? dlsym(libc, name) : NULL;
    }
    return f;
}

#define REAL(type, name, self) \
    static type real_##name; \
    if (!real_##name) real_##name = (type)real(#name, (void *)(self));

static open_fn log_open;  /* libc's open, to write the log without logging it */

static int skipped(const char *path) {
    const char *skip = getenv("MLPIPE_READLOG_SKIP");
    while (skip && *skip) {
        const char *end = strchr(skip, ':');
        size_t n = end ? (size_t)(end - skip) : strlen(skip);
        if (n && strncmp(path, skip, n) == 0) return 1;
        skip = end ? end + 1 : NULL;
    }
    return 0;
}

static void append(const char *log, const char *record, size_t len) {
    if (!log_open) log_open = (open_fn)real("open", NULL);
    int fd = log_open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, record, len);  /* one write: records never interleave */
        (void)w;
        close(fd);
    }
}

/* Whether this process already wrote this stat record to this log (a shell looks at "." dozens
 * of times): a set of 64-bit FNV-1a hashes, emptied when the log changes. Opens are always
 * written; a full set writes everything. */
#define SEEN_SLOTS 1024
static unsigned long long seen_hash[SEEN_SLOTS];
static unsigned long long seen_log;
static int repeated(const char *log, const char *record, size_t len) {
    if (record[0] != 'S' && record[0] != 'T') return 0;
    unsigned long long h = 1469598103934665603ULL, l = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)record[i]) * 1099511628211ULL;
    for (const char *c = log; *c; c++) l = (l ^ (unsigned char)*c) * 1099511628211ULL;
    if (l != seen_log) {
        memset(seen_hash, 0, sizeof seen_hash);
        seen_log = l;
    }
    if (!h) h = 1;
    for (size_t i = 0, at = h % SEEN_SLOTS; i < 16; i++, at = (at + 1) % SEEN_SLOTS) {
        if (seen_hash[at] == h) return 1;
        if (!seen_hash[at]) {
            seen_hash[at] = h;
            return 0;
        }
    }
    return 0;
}

/* Append one record for a path opened relative to `dirfd`. errno is kept as the caller left it.
 * `under`: record it only below this folder (NULL: anywhere outside the skipped prefixes). */
static void note_under(char kind, int dirfd, const char *path, const char *under) {
    const char *log = getenv("MLPIPE_READLOG");
    if (!log || !*log || !path || !*path) return;
    int saved = errno;
    char buf[PATH_MAX * 2 + 2];
    size_t len = 0;
    buf[len++] = kind;
    if (path[0] != '/') {
        char link[64];
        ssize_t n = -1;
        if (dirfd == AT_FDCWD) {
            if (getcwd(buf + 1, PATH_MAX)) n = (ssize_t)strlen(buf + 1);
        } else {
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            n = readlink(link, buf + 1, PATH_MAX);
        }
        if (n <= 0) goto out;  /* no folder to anchor it: the Python side sees Python's reads */
        len += (size_t)n;
        buf[len++] = '/';
    }
    size_t plen = strlen(path);
    if (len + plen + 1 > sizeof buf) goto out;
    memcpy(buf + len, path, plen);
    len += plen;
    buf[len++] = '\0';
    if ((under ? strncmp(buf + 1, under, strlen(under)) == 0 : !skipped(buf + 1))
        && !repeated(log, buf, len))
        append(log, buf, len);
out:
    errno = saved;
}

static void note(char kind, int dirfd, const char *path) { note_under(kind, dirfd, path, NULL); }

/* Whether an open can read what was there before it: not write-only, not truncating. */
static int reads(int flags) { return (flags & O_ACCMODE) != O_WRONLY && !(flags & O_TRUNC); }
static char kind_of(int flags) { return (flags & O_DIRECTORY) ? 'D' : 'R'; }
static int reads_mode(const char *mode) {
    return mode && !strchr(mode, 'w') && (strchr(mode, 'r') || strchr(mode, '+'));
}
static int logging(void) { const char *l = getenv("MLPIPE_READLOG"); return l && *l; }
/* An open that creates the file (a journal, a temporary file) reads nothing that was there. */
static int creates(int dirfd, const char *path, int flags) {
    if (!(flags & O_CREAT) || !reads(flags) || !logging()) return 0;
    if (flags & O_EXCL) return 1;
    int saved = errno;
    REAL(faccessat_fn, faccessat, NULL);
    int absent = real_faccessat(dirfd, path, F_OK, 0) != 0;
    errno = saved;
    return absent;
}
static int creates_mode(const char *path, const char *mode) {
    REAL(access_fn, access, NULL);
    return mode && strchr(mode, 'a') && logging() && real_access(path, F_OK) != 0;
}

static mode_t mode_arg(int flags, va_list ap) {
#ifdef O_TMPFILE
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) return va_arg(ap, mode_t);
#else
    if (flags & O_CREAT) return va_arg(ap, mode_t);
#endif
    return 0;
}

#define OPEN_WRAPPER(name) \
    EXPORT int name(const char *path, int flags, ...) { \
        va_list ap; va_start(ap, flags); mode_t mode = mode_arg(flags, ap); va_end(ap); \
        REAL(open_fn, name, name); \
        int created = creates(AT_FDCWD, path, flags); \
        int fd = real_##name(path, flags, mode); \
        if (fd >= 0 && reads(flags) && !created) note(kind_of(flags), AT_FDCWD, path); \
        else if (fd < 0 && errno == ENOENT && reads(flags) && !(flags & O_CREAT)) \
            note('A', AT_FDCWD, path); \
        return fd; \
    }

#define OPENAT_WRAPPER(name) \
    EXPORT int name(int dirfd, const char *path, int flags, ...) { \
        va_list ap; va_start(ap, flags); mode_t mode = mode_arg(flags, ap); va_end(ap); \
        REAL(openat_fn, name, name); \
        int created = creates(dirfd, path, flags); \
        int fd = real_##name(dirfd, path, flags, mode); \
        if (fd >= 0 && reads(flags) && !created) note(kind_of(flags), dirfd, path); \
        else if (fd < 0 && errno == ENOENT && reads(flags) && !(flags & O_CREAT)) \
            note('A', dirfd, path); \
        return fd; \
    }

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

/* _FORTIFY_SOURCE builds call these instead of open/openat. */
#define OPEN2_WRAPPER(name) \
    EXPORT int name(const char *path, int flags) { \
        REAL(open2_fn, name, name); \
        int fd = real_##name(path, flags); \
        if (fd >= 0 && reads(flags)) note(kind_of(flags), AT_FDCWD, path); \
        return fd; \
    }
#define OPENAT2_WRAPPER(name) \
    EXPORT int name(int dirfd, const char *path, int flags) { \
        REAL(openat2_fn, name, name); \
        int fd = real_##name(dirfd, path, flags); \
        if (fd >= 0 && reads(flags)) note(kind_of(flags), dirfd, path); \
        return fd; \
    }
OPEN2_WRAPPER(__open_2)
OPEN2_WRAPPER(__open64_2)
OPENAT2_WRAPPER(__openat_2)
OPENAT2_WRAPPER(__openat64_2)

#define FOPEN_WRAPPER(name) \
    EXPORT FILE *name(const char *path, const char *mode) { \
        REAL(fopen_fn, name, name); \
        int created = creates_mode(path, mode); \
        FILE *f = real_##name(path, mode); \
        if (f && reads_mode(mode) && !created) note('R', AT_FDCWD, path); \
        else if (!f && errno == ENOENT && mode && mode[0] == 'r') note('A', AT_FDCWD, path); \
        return f; \
    }
FOPEN_WRAPPER(fopen)
FOPEN_WRAPPER(fopen64)

#define FREOPEN_WRAPPER(name) \
    EXPORT FILE *name(const char *path, const char *mode, FILE *stream) { \
        REAL(freopen_fn, name, name); \
        int created = path && creates_mode(path, mode); \
        FILE *f = real_##name(path, mode, stream); \
        if (f && path && reads_mode(mode) && !created) note('R', AT_FDCWD, path); \
        return f; \
    }
FREOPEN_WRAPPER(freopen)
FREOPEN_WRAPPER(freopen64)

/* A stat or access call that finds nothing: the step may behave differently once the path
 * exists (`if os.path.exists(...)`), so the path is recorded as looked for. A path found is not
 * recorded: reading it is what makes it data, and that open is recorded. Old binaries (wheels
 * built for glibc < 2.33) call the versioned __xstat family instead. */
static int missing(int r) { return r != 0 && (errno == ENOENT || errno == ENOTDIR); }
/* What a stat or access call found: absent anywhere, or present inside the project. */
static void probed(int r, int dirfd, const char *path) {
    if (missing(r)) {
        note('S', dirfd, path);
    } else if (r == 0) {
        const char *root = getenv("MLPIPE_READLOG_ROOT");
        if (root && *root) note_under('T', dirfd, path, root);
    }
}
static void *real_v(const char *name, void *self) {
    static const char *versions[] = {"GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.0", "GLIBC_2.2",
                                     "GLIBC_2.27", NULL};  /* x86-64, arm64, i386, ... */
    void *f = real(name, self);
    for (int i = 0; !f && versions[i]; i++) f = dlvsym(RTLD_NEXT, name, versions[i]);
    return f;
}
#define REAL_V(type, name, self) \
    static type real_##name; \
    if (!real_##name) real_##name = (type)real_v(#name, (void *)(self));

#define STAT_WRAPPER(name, buftype, fn) \
    EXPORT int name(const char *path, buftype *buf) { \
        REAL(fn, name, name); \
        int r = real_##name(path, buf); \
        probed(r, AT_FDCWD, path); \
        return r; \
    }
STAT_WRAPPER(stat, struct stat, stat_fn)
STAT_WRAPPER(stat64, struct stat64, stat64_fn)
STAT_WRAPPER(lstat, struct stat, stat_fn)
STAT_WRAPPER(lstat64, struct stat64, stat64_fn)

#define FSTATAT_WRAPPER(name, buftype, fn) \
    EXPORT int name(int dirfd, const char *path, buftype *buf, int flags) { \
        REAL(fn, name, name); \
        int r = real_##name(dirfd, path, buf, flags); \
        probed(r, dirfd, path); \
        return r; \
    }
FSTATAT_WRAPPER(fstatat, struct stat, fstatat_fn)
FSTATAT_WRAPPER(fstatat64, struct stat64, fstatat64_fn)

#define XSTAT_WRAPPER(name, buftype, fn) \
    EXPORT int name(int ver, const char *path, buftype *buf) { \
        REAL_V(fn, name, name); \
        if (!real_##name) { errno = ENOSYS; return -1; } \
        int r = real_##name(ver, path, buf); \
        probed(r, AT_FDCWD, path); \
        return r; \
    }
XSTAT_WRAPPER(__xstat, struct stat, xstat_fn)
XSTAT_WRAPPER(__xstat64, struct stat64, xstat64_fn)
XSTAT_WRAPPER(__lxstat, struct stat, xstat_fn)
XSTAT_WRAPPER(__lxstat64, struct stat64, xstat64_fn)

EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf) {
    REAL(statx_fn, statx, statx);
    int r = real_statx(dirfd, path, flags, mask, buf);
    probed(r, dirfd, path);
    return r;
}

EXPORT int access(const char *path, int mode) {
    REAL(access_fn, access, access);
    int r = real_access(path, mode);
    probed(r, AT_FDCWD, path);
    return r;
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags) {
    REAL(faccessat_fn, faccessat, faccessat);
    int r = real_faccessat(dirfd, path, mode, flags);
    probed(r, dirfd, path);
    return r;
}

EXPORT DIR *opendir(const char *path) {
    REAL(opendir_fn, opendir, opendir);
    DIR *d = real_opendir(path);
    if (d) note('D', AT_FDCWD, path);
    return d;
}

/* A connection to another host (a database server, a web API): what it reads there cannot be
 * checked, so the step is told so. Name look-ups (port 53) are not data. */
EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    REAL(connect_fn, connect, connect);
    int r = real_connect(fd, addr, len);
    const char *log = getenv("MLPIPE_READLOG");
    if (log && *log && addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
        int saved = errno;
        char rec[INET6_ADDRSTRLEN + 16];
        char host[INET6_ADDRSTRLEN] = "";
        unsigned port;
        if (addr->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
        } else {
            const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)addr;
            inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
            port = ntohs(in->sin6_port);
        }
        if (port != 53) {
            int n = snprintf(rec, sizeof rec, "N%s:%u", host, port);
            if (n > 0 && (size_t)n < sizeof rec) append(log, rec, (size_t)n + 1);
        }
        errno = saved;
    }
    return r;
}

/* ---- rewriting the GOT of objects already loaded (the user's live kernel) ------------------ */
static void *hooked_dlopen(const char *file, int mode);

static const struct { const char *name; void *to; } targets[] = {
    {"open", (void *)open}, {"open64", (void *)open64}, {"openat", (void *)openat},
    {"openat64", (void *)openat64}, {"__open_2", (void *)__open_2},
    {"__open64_2", (void *)__open64_2}, {"__openat_2", (void *)__openat_2},
    {"__openat64_2", (void *)__openat64_2}, {"fopen", (void *)fopen},
    {"fopen64", (void *)fopen64}, {"freopen", (void *)freopen}, {"freopen64", (void *)freopen64},
    {"opendir", (void *)opendir}, {"connect", (void *)connect},
    {"stat", (void *)stat}, {"stat64", (void *)stat64}, {"lstat", (void *)lstat},
    {"lstat64", (void *)lstat64}, {"fstatat", (void *)fstatat}, {"fstatat64", (void *)fstatat64},
    {"__xstat", (void *)__xstat}, {"__xstat64", (void *)__xstat64},
    {"__lxstat", (void *)__lxstat}, {"__lxstat64", (void *)__lxstat64},
    {"statx", (void *)statx}, {"access", (void *)access}, {"faccessat", (void *)faccessat},
    {"dlopen", (void *)hooked_dlopen},
};

#if defined(__x86_64__)
#define SLOT_TYPES(t) ((t) == R_X86_64_JUMP_SLOT || (t) == R_X86_64_GLOB_DAT)
#elif defined(__aarch64__)
#define SLOT_TYPES(t) ((t) == R_AARCH64_JUMP_SLOT || (t) == R_AARCH64_GLOB_DAT)
#else
#define SLOT_TYPES(t) 0
#endif

static ElfW(Addr) self_base;
static int patched_count;

static void patch_slot(struct dl_phdr_info *info, ElfW(Addr) where, void *to) {
    void **slot = (void **)where;
    if (*slot == to) return;
    long page = sysconf(_SC_PAGESIZE);
    void *start = (void *)(where & ~(ElfW(Addr))(page - 1));
    int relro = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        ElfW(Addr) lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_GNU_RELRO && where >= lo && where < lo + ph->p_memsz) relro = 1;
    }
    if (mprotect(start, (size_t)page, PROT_READ | PROT_WRITE) != 0) return;
    *slot = to;
    patched_count++;
    if (relro) mprotect(start, (size_t)page, PROT_READ);
}

static void patch_relocs(struct dl_phdr_info *info, const ElfW(Rela) *rel, size_t size,
                         const ElfW(Sym) *symtab, const char *strtab) {
    for (size_t i = 0; i < size / sizeof(ElfW(Rela)); i++) {
        unsigned long type = ELF64_R_TYPE(rel[i].r_info);
        if (!SLOT_TYPES(type)) continue;
        const char *name = strtab + symtab[ELF64_R_SYM(rel[i].r_info)].st_name;
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++)
            if (strcmp(name, targets[t].name) == 0)
                patch_slot(info, info->dlpi_addr + rel[i].r_offset, targets[t].to);
    }
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (info->dlpi_addr == self_base || strstr(name, "/libc.so") || strstr(name, "/ld-linux")
        || strstr(name, "linux-vdso"))
        return 0;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn) return 0;
    ElfW(Addr) symtab = 0, strtab = 0, jmprel = 0, rela = 0;
    size_t pltsz = 0, relasz = 0;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB: symtab = dyn->d_un.d_ptr; break;
        case DT_STRTAB: strtab = dyn->d_un.d_ptr; break;
        case DT_JMPREL: jmprel = dyn->d_un.d_ptr; break;
        case DT_PLTRELSZ: pltsz = dyn->d_un.d_val; break;
        case DT_RELA: rela = dyn->d_un.d_ptr; break;
        case DT_RELASZ: relasz = dyn->d_un.d_val; break;
        }
    }
    /* the dynamic linker has usually relocated these in place; where not, they are offsets */
#define ABS(p) ((p) && (p) < info->dlpi_addr ? (p) + info->dlpi_addr : (p))
    symtab = ABS(symtab); strtab = ABS(strtab); jmprel = ABS(jmprel); rela = ABS(rela);
    if (!symtab || !strtab) return 0;
    if (jmprel) patch_relocs(info, (const ElfW(Rela) *)jmprel, pltsz,
                             (const ElfW(Sym) *)symtab, (const char *)strtab);
    if (rela) patch_relocs(info, (const ElfW(Rela) *)rela, relasz,
                           (const ElfW(Sym) *)symtab, (const char *)strtab);
    return 0;
}

static void *hooked_dlopen(const char *file, int mode) {
    REAL(dlopen_fn, dlopen, hooked_dlopen);
    void *handle = real_dlopen(file, mode);
    if (handle) dl_iterate_phdr(patch_object, NULL);
    return handle;
}

/* Point every loaded object's open-family slots here; returns the number of slots rewritten
 * (0 where this architecture is not supported). Objects loaded later are rewritten by dlopen. */
EXPORT int mlpipe_readlog_hook(void) {
    Dl_info me;
    if (dladdr((void *)mlpipe_readlog_hook, &me)) self_base = (ElfW(Addr))me.dli_fbase;
    patched_count = 0;
    dl_iterate_phdr(patch_object, NULL);
    return patched_count;
}

/* Whether the running process has this library preloaded (its open is this file's). */
EXPORT int mlpipe_readlog_version(void) { return 1; }
