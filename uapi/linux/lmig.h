/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * lmig: live migration of KVM guest memory over RDMA.
 *
 * The only contract between lmig.ko and userspace. lmig registers the misc
 * device /dev/lmig (mode 0600); every ioctl on it also requires
 * CAP_SYS_ADMIN and fails with EPERM without it.
 *
 * Rules every command follows:
 *  - Structures use fixed-width fields, explicit padding and pointers as
 *    __u64. They begin with __u32 size, set by the caller to the size of
 *    the structure it knows. The kernel accepts a smaller size from an
 *    older caller (the missing tail reads as zero) and a larger one from a
 *    newer caller if the tail it does not know is zero (else E2BIG), and
 *    writes back no more than size bytes.
 *  - An ioctl is identified by its type and number; the size encoded in
 *    the command is ignored in favour of the size field.
 *  - reserved fields and unknown flags must be zero (else EINVAL); an
 *    unknown command fails with ENOTTY.
 *  - The interface grows by feature bits and new commands, never by
 *    changing what an existing command or field means.
 *
 * Commands:
 *
 * LMIG_IOC_VERSION (struct lmig_version, read/write)
 *	Reports the interface version and the features this module supports.
 *	In: size, reserved (zero). Out: major, minor, features.
 *	A change of major means an incompatible interface; a caller built for
 *	another major must refuse to go on. minor grows with new commands and
 *	features, which are also announced as bits in features.
 *	Errors: EFAULT (bad pointer), EINVAL (size below LMIG_VERSION_SIZE_VER0
 *	or reserved non-zero), E2BIG (size larger than known with a non-zero
 *	tail), EPERM (no CAP_SYS_ADMIN).
 */
#ifndef _UAPI_LINUX_LMIG_H
#define _UAPI_LINUX_LMIG_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define LMIG_DEVICE_NAME	"lmig"

#define LMIG_VERSION_MAJOR	0
#define LMIG_VERSION_MINOR	1

/* Feature bits reported by LMIG_IOC_VERSION. None yet. */
#define LMIG_FEATURES_ALL	0ULL

struct lmig_version {
	__u32 size;		/* in: sizeof(struct lmig_version) */
	__u16 major;		/* out: LMIG_VERSION_MAJOR of the module */
	__u16 minor;		/* out: LMIG_VERSION_MINOR of the module */
	__u64 features;		/* out: LMIG_FEATURE_* bits */
	__u64 reserved[6];	/* in: zero */
};

#define LMIG_VERSION_SIZE_VER0	64

/* 0xB9 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define LMIG_IOC_MAGIC		0xB9

#define LMIG_IOC_VERSION	_IOWR(LMIG_IOC_MAGIC, 0x00, struct lmig_version)

#endif /* _UAPI_LINUX_LMIG_H */
