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

#endif /* _LMIG_COMPAT_H */
