/* placeholder until the registry lands */
#include "registry/registry.h"

#include <stdio.h>

registry *registry_open(const char *url, int flags, int *errcode, char *err, size_t errlen)
{
    (void)flags;
    if (errcode)
        *errcode = REG_ESTORE;
    snprintf(err, errlen, "%s: the registry is not available in this build yet", url);
    return NULL;
}

int registry_errcode(const registry *r)
{
    (void)r;
    return REG_ESTORE;
}
