/* The PostgreSQL driver of db.h -- not written yet. Until it lands, a
 * postgresql:// URL is a store that is not available (REG_ESTORE, exit 3).
 * Replace this file with a libpq implementation of db_driver (see db.h for
 * the contract: `?` placeholders rewritten to $n, errors mapped to REG_*
 * classes, BEGIN/COMMIT/ROLLBACK, RETURNING rows through step()). */
#include "registry/db.h"
#include "registry/registry.h"

#include <stdio.h>

db *db_pg_open(const char *conninfo, int *errcode, char *err, size_t errlen)
{
    (void)conninfo;
    *errcode = REG_ESTORE;
    snprintf(err, errlen, "PostgreSQL store: support is not built into this imagegate yet");
    return NULL;
}
