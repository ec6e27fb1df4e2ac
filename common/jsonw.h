/* A minimal streaming JSON writer for large reports: appends JSON strings
 * and literals to a strbuf that the caller flushes. jansson stays the tool
 * for building and parsing documents; this exists because building one
 * jansson object per finding of a 300 000-finding report costs more than
 * the whole plan scan. Input strings must be valid UTF-8 (everything in a
 * report is: the scanner repairs what it keeps). */
#ifndef IG_JSONW_H
#define IG_JSONW_H

#include "common/strbuf.h"

/* Appends s as a JSON string ("..." with escapes), or null when s is NULL. */
void jsonw_str(strbuf *b, const char *s);
/* Appends "key": (a string key followed by a colon). */
void jsonw_key(strbuf *b, const char *key);

#endif
