/*
 * fakev4l2.c - LD_PRELOAD shim that emulates one v4l2loopback output node.
 *
 * Why this exists: the kernel on our test machines has no V4L2 support at
 * all, so the v4l2loopback module (and any /dev/videoN) cannot exist there.
 * To still exercise pyvirtualcam's REAL Linux backend end to end, this shim
 * intercepts the four libc calls that backend uses for the device (open,
 * ioctl, write, close) and emulates a single device path.  Everything else
 * is passed straight through to libc.
 *
 * Configuration (environment, read once at load time):
 *   FAKEV4L2_DEVICE  emulated path, e.g. /dev/video7 (need not exist on disk).
 *                    Unset or empty: the shim is inert.
 *   FAKEV4L2_OUT     file every written frame is appended to (raw bytes).
 *                    Unset: frames go to /dev/null.
 *   FAKEV4L2_TS      file that gets one line "<CLOCK_MONOTONIC s.ns> <nbytes>"
 *                    per write.  Unset: no timestamps.
 *   FAKEV4L2_MODE    "busy": open() of the device fails with EBUSY.
 *                    Anything else / unset: normal.
 *
 * How the emulation works: opening the emulated path really opens
 * FAKEV4L2_OUT (O_WRONLY|O_CREAT|O_APPEND) and returns that real fd, which is
 * remembered as a "fake device" fd.  ioctl/write/close on remembered fds are
 * emulated; on any other fd they pass through.
 *
 * Re-entrancy / thread safety: the host process (Python) calls open/write
 * constantly from several threads.  The real libc entry points are resolved
 * once (pthread_once), the fake-fd table is guarded by a mutex, and an atomic
 * counter gives a lock-free fast path while no fake fd is open.  Nothing in
 * the interposed paths uses stdio streams (only snprintf into a stack
 * buffer, which performs no I/O), so no call can re-enter the shim.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <linux/videodev2.h>

/* ------------------------------------------------------------------------ */
/* Real libc entry points                                                    */

typedef int (*open_fn)(const char *, int, ...);
typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*close_fn)(int);

static open_fn real_open;
static open_fn real_open64;
static ioctl_fn real_ioctl;
static write_fn real_write;
static close_fn real_close;

/* Configuration, copied out of the environment once. */
#define PATH_CAP 4096
static char cfg_device[PATH_CAP];
static char cfg_out[PATH_CAP];
static char cfg_ts[PATH_CAP];
static int cfg_busy;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void copy_env(char *dst, const char *name)
{
    const char *v = getenv(name);
    dst[0] = '\0';
    if (v && strlen(v) < PATH_CAP)
        strcpy(dst, v);
}

static void do_init(void)
{
    real_open = (open_fn)dlsym(RTLD_NEXT, "open");
    real_open64 = (open_fn)dlsym(RTLD_NEXT, "open64");
    real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
    real_write = (write_fn)dlsym(RTLD_NEXT, "write");
    real_close = (close_fn)dlsym(RTLD_NEXT, "close");
    if (!real_open64)
        real_open64 = real_open;

    copy_env(cfg_device, "FAKEV4L2_DEVICE");
    copy_env(cfg_out, "FAKEV4L2_OUT");
    copy_env(cfg_ts, "FAKEV4L2_TS");
    const char *mode = getenv("FAKEV4L2_MODE");
    cfg_busy = mode && strcmp(mode, "busy") == 0;
}

static inline void ensure_init(void)
{
    pthread_once(&init_once, do_init);
}

/* Resolve early so the first interposed call from Python is cheap; the
 * pthread_once in every wrapper still covers calls made before this runs. */
__attribute__((constructor)) static void fakev4l2_ctor(void)
{
    ensure_init();
}

/* ------------------------------------------------------------------------ */
/* Fake-fd table                                                             */

/* pyvirtualcam holds one fd per camera; a handful of slots is plenty. */
#define MAX_FAKE 16

struct fake_dev {
    int fd;                   /* fd returned to the caller (the OUT file), -1 = free */
    int ts_fd;                /* timestamp file, -1 if FAKEV4L2_TS unset */
    int have_fmt;
    struct v4l2_pix_format pix;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_dev table[MAX_FAKE] = {
    [0 ... MAX_FAKE - 1] = { .fd = -1, .ts_fd = -1 },
};
/* Number of used slots; lets every wrapper skip the lock in the common case. */
static atomic_int n_fake;

/* Caller holds table_lock. */
static struct fake_dev *find_locked(int fd)
{
    for (int i = 0; i < MAX_FAKE; i++)
        if (table[i].fd == fd)
            return &table[i];
    return NULL;
}

static inline int maybe_fake(int fd)
{
    return fd >= 0 && atomic_load_explicit(&n_fake, memory_order_acquire) > 0;
}

/* ------------------------------------------------------------------------ */
/* open / open64                                                             */

static int is_device_path(const char *path)
{
    return cfg_device[0] != '\0' && path != NULL && strcmp(path, cfg_device) == 0;
}

static int open_device(void)
{
    if (cfg_busy) {
        errno = EBUSY;
        return -1;
    }

    const char *out = cfg_out[0] ? cfg_out : "/dev/null";
    int fd = real_open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;

    int ts_fd = -1;
    if (cfg_ts[0]) {
        ts_fd = real_open(cfg_ts, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (ts_fd < 0) {
            int e = errno;
            real_close(fd);
            errno = e;
            return -1;
        }
    }

    pthread_mutex_lock(&table_lock);
    struct fake_dev *slot = find_locked(-1);
    if (slot) {
        memset(slot, 0, sizeof(*slot));
        slot->fd = fd;
        slot->ts_fd = ts_fd;
        atomic_fetch_add_explicit(&n_fake, 1, memory_order_release);
    }
    pthread_mutex_unlock(&table_lock);

    if (!slot) {
        real_close(fd);
        if (ts_fd >= 0)
            real_close(ts_fd);
        errno = EMFILE;
        return -1;
    }
    return fd;
}

/* The mode argument is only present (and may only be read) when the flags
 * require one, exactly like glibc's own wrappers. */
static mode_t read_mode(int flags, va_list ap)
{
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        return (mode_t)va_arg(ap, int);
    return 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = read_mode(flags, ap);
    va_end(ap);

    ensure_init();
    if (is_device_path(path))
        return open_device();
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = read_mode(flags, ap);
    va_end(ap);

    ensure_init();
    if (is_device_path(path))
        return open_device();
    return real_open64(path, flags, mode);
}

/* ------------------------------------------------------------------------ */
/* ioctl                                                                     */

static void fill_pix(struct v4l2_pix_format *pix)
{
    __u32 w = pix->width, h = pix->height;
    switch (pix->pixelformat) {
    case V4L2_PIX_FMT_YUV420:
    case V4L2_PIX_FMT_YVU420:
    case V4L2_PIX_FMT_NV12:
    case V4L2_PIX_FMT_NV21:
        pix->bytesperline = w;
        pix->sizeimage = w * h * 3 / 2;
        break;
    case V4L2_PIX_FMT_YUYV:
    case V4L2_PIX_FMT_UYVY:
        pix->bytesperline = w * 2;
        pix->sizeimage = w * h * 2;
        break;
    case V4L2_PIX_FMT_RGB24:
    case V4L2_PIX_FMT_BGR24:
        pix->bytesperline = w * 3;
        pix->sizeimage = w * h * 3;
        break;
    case V4L2_PIX_FMT_RGB32:
    case V4L2_PIX_FMT_BGR32:
        pix->bytesperline = w * 4;
        pix->sizeimage = w * h * 4;
        break;
    default:
        /* Unknown format: trust the caller's numbers if any. */
        if (pix->bytesperline == 0)
            pix->bytesperline = w;
        if (pix->sizeimage == 0)
            pix->sizeimage = pix->bytesperline * h;
        break;
    }
    pix->field = V4L2_FIELD_NONE;
    if (pix->colorspace == 0)
        pix->colorspace = V4L2_COLORSPACE_SRGB;
}

/* Caller holds table_lock. Returns 0 or an errno value. */
static int fake_ioctl_locked(struct fake_dev *dev, unsigned long req, void *arg)
{
    if (arg == NULL)
        return EFAULT;

    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *cap = arg;
        memset(cap, 0, sizeof(*cap));
        /* pyvirtualcam insists on exactly this driver name. */
        strncpy((char *)cap->driver, "v4l2 loopback", sizeof(cap->driver) - 1);
        strncpy((char *)cap->card, "livebg fake", sizeof(cap->card) - 1);
        strncpy((char *)cap->bus_info, "platform:v4l2loopback-fake", sizeof(cap->bus_info) - 1);
        cap->version = 0x00060000; /* KERNEL_VERSION(6, 0, 0); informational only */
        cap->device_caps = V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_READWRITE;
        cap->capabilities = cap->device_caps | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_S_FMT:
    case VIDIOC_TRY_FMT: {
        struct v4l2_format *fmt = arg;
        if (fmt->type != V4L2_BUF_TYPE_VIDEO_OUTPUT)
            return EINVAL;
        if (fmt->fmt.pix.width == 0 || fmt->fmt.pix.height == 0)
            return EINVAL;
        fill_pix(&fmt->fmt.pix);
        if (req == VIDIOC_S_FMT) {
            dev->pix = fmt->fmt.pix;
            dev->have_fmt = 1;
        }
        return 0;
    }
    case VIDIOC_G_FMT: {
        struct v4l2_format *fmt = arg;
        if (fmt->type != V4L2_BUF_TYPE_VIDEO_OUTPUT || !dev->have_fmt)
            return EINVAL;
        memset(&fmt->fmt, 0, sizeof(fmt->fmt));
        fmt->fmt.pix = dev->pix;
        return 0;
    }
    default:
        return EINVAL;
    }
}

int ioctl(int fd, unsigned long req, ...)
{
    /* Every V4L2 request we care about takes a single pointer argument;
     * passing the next vararg through as a pointer matches how glibc's own
     * ioctl forwards it to the kernel. */
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);

    ensure_init();
    if (maybe_fake(fd)) {
        pthread_mutex_lock(&table_lock);
        struct fake_dev *dev = find_locked(fd);
        int err = dev ? fake_ioctl_locked(dev, req, arg) : -1;
        pthread_mutex_unlock(&table_lock);
        if (err >= 0) {
            if (err == 0)
                return 0;
            errno = err;
            return -1;
        }
    }
    return real_ioctl(fd, req, arg);
}

/* ------------------------------------------------------------------------ */
/* write                                                                     */

/* Write everything or fail; regular files rarely short-write, but be exact
 * so a frame is never silently truncated. */
static ssize_t write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    size_t left = n;
    while (left > 0) {
        ssize_t r = real_write(fd, p, left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        left -= (size_t)r;
    }
    return (ssize_t)n;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    ensure_init();
    if (!maybe_fake(fd))
        return real_write(fd, buf, n);

    pthread_mutex_lock(&table_lock);
    struct fake_dev *dev = find_locked(fd);
    int ts_fd = dev ? dev->ts_fd : -1;
    int is_fake = dev != NULL;
    pthread_mutex_unlock(&table_lock);
    if (!is_fake)
        return real_write(fd, buf, n);

    /* Stamp at hand-over time: that is when a real loopback device would
     * make the frame available to readers, and it keeps the measured rate
     * independent of how long the disk write takes. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);

    ssize_t r = write_all(fd, buf, n);
    if (r >= 0 && ts_fd >= 0) {
        char line[64];
        int len = snprintf(line, sizeof(line), "%lld.%09ld %zu\n",
                           (long long)ts.tv_sec, ts.tv_nsec, n);
        if (len > 0) {
            int saved = errno;
            write_all(ts_fd, line, (size_t)len);
            errno = saved;
        }
    }
    return r;
}

/* ------------------------------------------------------------------------ */
/* close                                                                     */

int close(int fd)
{
    ensure_init();
    if (maybe_fake(fd)) {
        int ts_fd = -1;
        pthread_mutex_lock(&table_lock);
        struct fake_dev *dev = find_locked(fd);
        if (dev) {
            ts_fd = dev->ts_fd;
            dev->fd = -1;
            dev->ts_fd = -1;
            atomic_fetch_sub_explicit(&n_fake, 1, memory_order_release);
        }
        pthread_mutex_unlock(&table_lock);
        if (ts_fd >= 0)
            real_close(ts_fd);
    }
    return real_close(fd);
}
