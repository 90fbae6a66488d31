/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LMIG_VMFD_H
#define LMIG_VMFD_H

#include <stddef.h>
#include <sys/types.h>

/*
 * A duplicate of the KVM VM fd of the VMM process pid: the fd whose link
 * reads "anon_inode:kvm-vm", taken with pidfd_open() and pidfd_getfd(),
 * which need the right to ptrace pid. Returns the fd, or -1 with err set.
 */
int vm_fd_of_pid(pid_t pid, char *err, size_t errlen);

#endif
