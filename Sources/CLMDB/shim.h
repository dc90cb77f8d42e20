#ifndef TALLY_CLMDB_SHIM_H
#define TALLY_CLMDB_SHIM_H
// Debian's liblmdb-dev (LMDB 0.9.24). The Swift binding in TallyLMDB owns every call and every
// rule of ../shared/design/LMDB.md.
#include <lmdb.h>
#include <sys/syscall.h>
#include <unistd.h>

// sync_file_range(2) with SYNC_FILE_RANGE_WAIT_BEFORE | WRITE | WAIT_AFTER: writes back the
// dirty pages of one file range and waits for them (the journaled mode paces its checkpoint
// flush with it). Through syscall(2): glibc declares it only under _GNU_SOURCE, which Swift's
// Glibc module is not built with.
static inline int tally_write_back_range(int fd, long long offset, long long length) {
    return (int)syscall(SYS_sync_file_range, fd, offset, length, 7u);
}
#endif
