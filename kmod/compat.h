/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels lmig builds against, in one place.
 * Debian bookworm's 6.1 and 6.12 first.
 */
#ifndef _LMIG_COMPAT_H
#define _LMIG_COMPAT_H

#include <linux/kvm_host.h>

/* 6.8 renamed the number of memslot address spaces. */
#ifndef KVM_MAX_NR_ADDRESS_SPACES
#define KVM_MAX_NR_ADDRESS_SPACES KVM_ADDRESS_SPACE_NUM
#endif

/*
 * rxe before 6.4 (its page maps became an xarray then) reads one map
 * pointer past the end of an MR's map array when a WRITE ends on the
 * MR's last page and the MR holds a multiple of 256 pages: rxe_mr_copy
 * steps to the next map before it sees it is done. KASAN reports it as
 * slab-out-of-bounds in rxe_mr_copy. One spare page slot per fast
 * registered MR gives rxe a map it can read there; lmig never maps it.
 * It costs one page-list entry, so it stays on every kernel until the
 * oldest one lmig supports is 6.4 (checkpatch rightly refuses a
 * version test for it).
 */
#define LMIG_MR_SPARE_PAGES 1

#endif /* _LMIG_COMPAT_H */
