// SPDX-License-Identifier: GPL-2.0
/*
 * lmig: live migration of KVM guest memory over RDMA.
 * Module load and unload only; each part sets itself up in its own file.
 */
#include <linux/module.h>
#include <linux/lmig.h>

#include "lmig.h"

static int __init lmig_init(void)
{
	int ret;

	ret = lmig_dev_init();
	if (ret)
		return ret;

	pr_info("interface %u.%u loaded\n", LMIG_VERSION_MAJOR,
		LMIG_VERSION_MINOR);
	return 0;
}

static void __exit lmig_exit(void)
{
	/* No fd is open (each holds a module reference): no ioctl races this. */
	lmig_dev_exit();
	lmig_sessions_exit();
	pr_debug("unloaded\n");
}

module_init(lmig_init);
module_exit(lmig_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Live migration of KVM guest memory over RDMA");
MODULE_AUTHOR("The lmig authors");
MODULE_VERSION("0.1");
