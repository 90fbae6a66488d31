/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lmig: live migration of KVM guest memory over RDMA.
 * Declarations shared between the module's files.
 */
#ifndef _LMIG_H
#define _LMIG_H

#include <linux/init.h>

int __init lmig_dev_init(void);
void lmig_dev_exit(void);

#endif /* _LMIG_H */
