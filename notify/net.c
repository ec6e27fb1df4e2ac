/* Which addresses a webhook may be sent to (GitLab's self-managed webhooks
 * are the model): every public address, and none of the special ranges --
 * loopback, private (RFC 1918), shared (RFC 6598), link-local (where cloud
 * metadata services live), unique-local, multicast, documentation,
 * benchmarking, reserved, "this network" -- unless an operator's
 * --webhook-allow-network CIDR covers the address.
 *
 * IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64
 * 64:ff9b::/96, 6to4 2002::/16) are judged by that IPv4 address, so
 * ::ffff:127.0.0.1 is loopback and ::ffff:8.8.8.8 public; an allow CIDR
 * matches either form. The deprecated IPv4-compatible ::/96 and Teredo
 * (inside 2001::/23) are refused outright.
 *
 * The check runs on the address the socket is about to connect to
 * (send.c's CURLOPT_OPENSOCKETFUNCTION), after name resolution: a name that
 * resolves to a public address at creation and to 127.0.0.1 later is
 * refused when it matters. Pure functions. */
#include "notify/notify.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct range {
    const char *cidr, *name;
} range;

static const range v4_ranges[] = {
    {"0.0.0.0/8", "this-network"},       {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "shared"},         {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"},    {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "ietf-protocol"},   {"192.0.2.0/24", "documentation"},
    {"192.88.99.0/24", "6to4-relay"},    {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "benchmarking"},   {"198.51.100.0/24", "documentation"},
    {"203.0.113.0/24", "documentation"}, {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},
};

/* Checked in order; the first match names the range. ::/128 and ::1/128
 * come before the IPv4-compatible ::/96 that holds them. */
static const range v6_ranges[] = {
    {"::/128", "unspecified"},      {"::1/128", "loopback"},
    {"::/96", "ipv4-compatible"},   {"64:ff9b:1::/48", "nat64-local"},
    {"100::/64", "discard"},        {"2001:db8::/32", "documentation"},
    {"2001::/23", "ietf-protocol"}, {"3fff::/20", "documentation"},
    {"fc00::/7", "unique-local"},   {"fe80::/10", "link-local"},
    {"fec0::/10", "site-local"},    {"ff00::/8", "multicast"},
};

int notify_cidr_parse(const char *s, notify_cidr *out, char *err, size_t errlen)
{
    char buf[64];
    memset(out, 0, sizeof *out);
    if (!s || strlen(s) >= sizeof buf) {
        snprintf(err, errlen, "'%.64s' is not a CIDR (a.b.c.d/n or x:y::/n)", s ? s : "");
        return -1;
    }
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    out->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
    int max = out->family == AF_INET ? 32 : 128;
    char *end = NULL;
    long bits = slash ? strtol(slash + 1, &end, 10) : max;
    if (inet_pton(out->family, buf, out->addr) != 1 || bits < 0 || bits > max ||
        (slash && (!slash[1] || *end))) {
        snprintf(err, errlen, "'%.64s' is not a CIDR (a.b.c.d/n or x:y::/n)", s);
        return -1;
    }
    out->bits = (int)bits;
    size_t len = out->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < len; i++) {
        int keep = out->bits - (int)i * 8;
        unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
        if (out->addr[i] & ~mask) {
            snprintf(err, errlen, "'%.64s': bits are set past the /%d prefix", s, out->bits);
            return -1;
        }
    }
    return 0;
}

/* Whether the address (family, bytes) lies inside c. */
static bool cidr_has(const notify_cidr *c, int family, const unsigned char *a)
{
    if (c->family != family)
        return false;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, a, (size_t)full) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (a[full] & mask);
}

static bool allowed(int family, const unsigned char *a, const notify_cidr *allow, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cidr_has(&allow[i], family, a))
            return true;
    return false;
}

static const char *classify(int family, const unsigned char *a, const range *rs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        notify_cidr c;
        char err[8];
        if (notify_cidr_parse(rs[i].cidr, &c, err, sizeof err) == 0 && cidr_has(&c, family, a))
            return rs[i].name;
    }
    return NULL;
}

static const char *v4_refused(const unsigned char *a, const notify_cidr *allow, size_t n)
{
    if (allowed(AF_INET, a, allow, n))
        return NULL;
    return classify(AF_INET, a, v4_ranges, sizeof v4_ranges / sizeof v4_ranges[0]);
}

/* The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4) into v4;
 * false when it carries none. */
static bool embedded_v4(const unsigned char *a, unsigned char v4[4])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        memcpy(v4, a + 12, 4);
        return true;
    }
    if (a[0] == 0x20 && a[1] == 0x02) { /* 2002:AABB:CCDD::/48 */
        memcpy(v4, a + 2, 4);
        return true;
    }
    return false;
}

static const char *v6_refused(const unsigned char *a, const notify_cidr *allow, size_t n)
{
    unsigned char v4[4];
    if (allowed(AF_INET6, a, allow, n))
        return NULL;
    if (embedded_v4(a, v4))
        return v4_refused(v4, allow, n);
    return classify(AF_INET6, a, v6_ranges, sizeof v6_ranges / sizeof v6_ranges[0]);
}

const char *notify_addr_refused(const struct sockaddr *sa, const notify_cidr *allow, size_t n)
{
    if (!sa)
        return "unknown";
    if (sa->sa_family == AF_INET)
        return v4_refused((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr, allow,
                          n);
    if (sa->sa_family == AF_INET6)
        return v6_refused((const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr,
                          allow, n);
    return "not-ip"; /* a Unix socket or another family: never */
}

const char *notify_ip_refused(const char *s, const notify_cidr *allow, size_t n)
{
    unsigned char a[16];
    char buf[64];
    size_t len = s ? strlen(s) : 0;
    /* URL hosts write IPv6 in brackets */
    if (len >= 2 && len < sizeof buf && s[0] == '[' && s[len - 1] == ']') {
        memcpy(buf, s + 1, len - 2);
        buf[len - 2] = '\0';
        s = buf;
    }
    if (s && inet_pton(AF_INET, s, a) == 1)
        return v4_refused(a, allow, n);
    if (s && inet_pton(AF_INET6, s, a) == 1)
        return v6_refused(a, allow, n);
    return NULL;
}
