/* normalise.h - query normalisation: the rule that makes "How do I open an
 * account?" and "how do i open an account" one cache entry.
 *
 * NC_NORM_BASIC: byte-identical to Python's " ".join(q.lower().split()):
 *   Python's full lowercase mapping (U+0130 -> "i\u0307", final sigma rule)
 *   and Python's str.split() whitespace set (incl. U+001C..U+001F, U+0085,
 *   U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
 * NC_NORM_TEXT: Unicode NFKC_Casefold (utf8proc), the same whitespace
 *   collapse, then characters of general category P* and whitespace trimmed
 *   from both ends. */
#ifndef NC_NORMALISE_H
#define NC_NORMALISE_H

#include <stddef.h>
#include <stdint.h>

#include "normcache/buf.h"

enum nc_norm_mode { NC_NORM_TEXT = 0, NC_NORM_BASIC = 1 };

/* Normalises the UTF-8 text in[0..len) into out (which is reset first).
 * Returns 0; the result may be empty (the caller decides that is a 400).
 * Returns -1 and sets *err to a static message (never quoting the input)
 * when the input is not valid UTF-8 or contains NUL, or memory runs out. */
int nc_normalise(enum nc_norm_mode mode, const char *in, size_t len, struct nc_buf *out,
                 const char **err);

#endif
