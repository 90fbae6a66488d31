// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/lmig: the misc device and its ioctl dispatch.
 *
 * The device node is root only (mode 0600), and every ioctl checks
 * CAP_SYS_ADMIN as well: an fd passed to a less privileged process must
 * not carry the right to move a VM's memory with it.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/uaccess.h>
#include <linux/lmig.h>

#include "lmig.h"

/*
 * Copy in a structure that begins with a __u32 size field, following the
 * rules in the uapi header: smaller sizes read as zero-extended, larger
 * ones need a zero tail (E2BIG otherwise, from copy_struct_from_user).
 */
int lmig_copy_sized_from_user(void *dst, size_t ksize, size_t min_size,
			      const void __user *src)
{
	u32 usize;

	if (get_user(usize, (const u32 __user *)src))
		return -EFAULT;
	if (usize < min_size || usize > PAGE_SIZE)
		return -EINVAL;
	return copy_struct_from_user(dst, ksize, src, usize);
}

int lmig_copy_sized_to_user(void __user *dst, const void *src, size_t ksize)
{
	u32 usize = *(const u32 *)src;

	return copy_to_user(dst, src, min_t(size_t, usize, ksize)) ? -EFAULT : 0;
}

/* An ioctl is its type, number and direction; the size field rules size. */
#define IOC_IDENTITY(cmd)	((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

bool lmig_all_zero(const u64 *v, size_t n)
{
	while (n--)
		if (v[n])
			return false;
	return true;
}

static long ioctl_version(void __user *argp)
{
	struct lmig_version v;
	u32 usize;
	int ret;

	ret = lmig_copy_sized_from_user(&v, sizeof(v), LMIG_VERSION_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (!lmig_all_zero(v.reserved, ARRAY_SIZE(v.reserved)))
		return -EINVAL;

	usize = v.size;
	memset(&v, 0, sizeof(v));
	v.size = usize;
	v.major = LMIG_VERSION_MAJOR;
	v.minor = LMIG_VERSION_MINOR;
	v.features = LMIG_FEATURES_ALL;
	return lmig_copy_sized_to_user(argp, &v, sizeof(v));
}

static long lmig_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (_IOC_TYPE(cmd) != LMIG_IOC_MAGIC)
		return -ENOTTY;

	switch (IOC_IDENTITY(cmd)) {
	case IOC_IDENTITY(LMIG_IOC_VERSION):
		return ioctl_version(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_CREATE):
		return lmig_ioctl_session_create(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_ATTACH_VM):
		return lmig_ioctl_session_attach(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_STATUS):
		return lmig_ioctl_session_status(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_LIST):
		return lmig_ioctl_session_list(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_CANCEL):
		return lmig_ioctl_session_cancel(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_REMOVE):
		return lmig_ioctl_session_remove(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_START):
		return lmig_ioctl_session_start(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_LISTEN):
		return lmig_ioctl_session_listen(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_CONNECT):
		return lmig_ioctl_session_connect(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_FINALIZE):
		return lmig_ioctl_session_finalize(argp);
	case IOC_IDENTITY(LMIG_IOC_SESSION_WAIT):
		return lmig_ioctl_session_wait(argp);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations lmig_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = lmig_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice lmig_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = LMIG_DEVICE_NAME,
	.fops = &lmig_fops,
	.mode = 0600,
};

int __init lmig_dev_init(void)
{
	BUILD_BUG_ON(sizeof(struct lmig_version) != LMIG_VERSION_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_create) != LMIG_SESSION_CREATE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_attach) != LMIG_SESSION_ATTACH_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_id) != LMIG_SESSION_ID_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_list) != LMIG_SESSION_LIST_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_status) != LMIG_STATUS_SIZE_VER1);
	BUILD_BUG_ON(offsetof(struct lmig_status, message) != LMIG_STATUS_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_listen) != LMIG_SESSION_LISTEN_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_connect) != LMIG_SESSION_CONNECT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_finalize) != LMIG_SESSION_FINALIZE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_wait) != LMIG_SESSION_WAIT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct lmig_session_start) != LMIG_SESSION_START_SIZE_VER0);
	return misc_register(&lmig_misc);
}

void lmig_dev_exit(void)
{
	misc_deregister(&lmig_misc);
}
