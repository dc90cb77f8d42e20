#ifndef TALLY_CLMDB_SHIM_H
#define TALLY_CLMDB_SHIM_H
// Debian's liblmdb-dev (LMDB 0.9.24). Nothing else is wrapped here: the Swift binding in
// TallyLMDB owns every call and every rule of ../shared/design/LMDB.md.
#include <lmdb.h>
#endif
