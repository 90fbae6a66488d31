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
 *
 * LMIG_IOC_SESSION_CREATE (struct lmig_session_create, read/write)
 *	Creates a migration session, a kernel object that outlives the fd it
 *	was created through, so that lmctl's commands are one-shot.
 *	In: size, role (LMIG_ROLE_SOURCE or LMIG_ROLE_DESTINATION), flags
 *	(zero), reserved (zero). Out: id, from 1 up.
 *	Errors: EINVAL (unknown role, flags or non-zero reserved), ENOSPC
 *	(LMIG_MAX_SESSIONS exist), ENOMEM, and the common ones.
 *
 * LMIG_IOC_SESSION_ATTACH_VM (struct lmig_session_attach, read/write)
 *	Gives a session in state setup the KVM VM whose VM fd is vm_fd (a
 *	VMM's VM file, obtained with pidfd_getfd()). The module keeps a
 *	reference on the file and on the VMM's mm and reads the VM's memory
 *	layout: every user memslot of every address space, read-only slots
 *	excepted (ROM is never migrated). The VM must have at least one slot.
 *	In: size, id, vm_fd, flags (zero), reserved (zero). Out: slots,
 *	total_pages.
 *	Errors: ENOENT (no such session), EBADF (vm_fd is not an open fd),
 *	EINVAL (vm_fd is not a KVM VM, bad flags or reserved, or the VM has
 *	no memory), EBUSY (a VM is already attached, the session is past
 *	setup, or the VM belongs to another session), ESRCH (the VMM is
 *	exiting), E2BIG (more than LMIG_MAX_SLOTS memslots).
 *
 * LMIG_IOC_SESSION_STATUS (struct lmig_status, read/write)
 *	A session's state and progress. In: size, id. Out: the rest.
 *	Errors: ENOENT, and the common ones.
 *
 * LMIG_IOC_SESSION_LIST (struct lmig_session_list, read/write)
 *	The ids of all sessions. In: size, capacity, ids (a pointer to
 *	capacity __u32s). Out: count, the number of sessions, of which the
 *	first min(count, capacity) ids were written, in increasing order.
 *	Errors: EFAULT, EINVAL, and the common ones.
 *
 * LMIG_IOC_SESSION_CANCEL (struct lmig_session_id, read/write)
 *	Ends a session that has not finished: it becomes cancelled and lets
 *	go of its VM; the source VM never notices. A finished session is
 *	left as it is. In: size, id. Errors: ENOENT, and the common ones.
 *
 * LMIG_IOC_SESSION_START (struct lmig_session_start, read/write)
 *	Starts a source session that has a VM attached.
 *	Without flags the session must be connected (LMIG_IOC_SESSION_CONNECT):
 *	its worker sends all memory (round 0; zero pages only as markers),
 *	then the pages dirtied meanwhile, round after round. The session is
 *	converged (and stays so while it holds) once the pages left would
 *	take no longer than downtime_limit_ms (0: LMIG_DEFAULT_DOWNTIME_MS)
 *	at the throughput measured; it keeps sending rounds until finalized.
 *	max_bandwidth caps the rate in bytes per second (0: none).
 *	With LMIG_START_MEASURE, it sends nothing: a worker harvests the VM's
 *	dirty log every interval_ms (0: 1000) and the session's status
 *	reports rounds, the pages found dirty in the last round
 *	(remaining_pages) and dirty_rate_pps, until it is cancelled.
 *	Either way, slots the VMM did not log get dirty logging until the
 *	session ends, and their flags back then.
 *	In: size, id, flags, interval_ms, downtime_limit_ms, max_bandwidth,
 *	reserved (zero).
 *	Errors: ENOENT, EINVAL (unknown flags, non-zero reserved, interval
 *	above LMIG_MAX_INTERVAL_MS, a destination session or no VM), EBUSY
 *	(not in setup, or already started), ENOTCONN (not connected: without
 *	LMIG_START_MEASURE a session needs a peer).
 *
 * LMIG_IOC_SESSION_LISTEN (struct lmig_session_listen, read/write)
 *	Makes a destination session with a VM attached wait for its source:
 *	it listens for RDMA CM connections on local (address zero: any; port
 *	0: LMIG_DEFAULT_PORT) and returns a fresh random token that the
 *	source must prove it knows (HMAC-SHA256 over a challenge) before any
 *	of the VM's memory is made writable. A source whose proof or memory
 *	layout is wrong is turned away; with a wrong layout the session
 *	fails (status message names the slot), with a wrong proof it waits
 *	on. Once a source is in, no other connection is accepted but the
 *	data QPs it joins (see CONNECT's qps); the session
 *	becomes active, and completed when the source's FINAL has arrived
 *	after every page of its last round.
 *	In: size, id, flags (zero), local, reserved (zero).
 *	Out: local (the port bound), token.
 *	Errors: ENOENT, EINVAL (not a destination, no VM, bad family or
 *	reserved), EBUSY (not in setup, or already listening), EADDRINUSE,
 *	EADDRNOTAVAIL (no such local address), ENODEV (no RDMA device).
 *
 * LMIG_IOC_SESSION_CONNECT (struct lmig_session_connect, read/write)
 *	Connects a source session with a VM attached to a listening
 *	destination session and authenticates with token. Returns once the
 *	destination has checked the memory layout and granted its first
 *	chunk of memory (the rest comes while round 0 runs), or failed.
 *	The session stays in setup until started. With qps above 1 it also
 *	joins that many QPs in all for its WRITEs, where the destination
 *	speaks wire 1.4; a QP that cannot be joined is done without (the
 *	status says how many are used).
 *	In: size, id, flags (zero), timeout_ms (0: 10000), remote, token,
 *	qps (0: 1; at most LMIG_MAX_QPS), reserved (zero).
 *	Errors: ENOENT, EINVAL (not a source, no VM, bad family, qps or
 *	reserved), EBUSY (not in setup, or already connected),
 *	ETIMEDOUT, EHOSTUNREACH / ENETUNREACH (no route),
 *	ECONNREFUSED (nobody listens there, or it has its source), EACCES
 *	(the destination refused the token), EPROTO (the destination's
 *	memory layout differs: the status message says where; or a protocol
 *	error), EINTR (a signal: the session connects on; or cancelled),
 *	ECANCELED (cancelled before its worker ran). After any other
 *	failure the session has failed; its status message says why.
 *
 * LMIG_IOC_SESSION_FINALIZE (struct lmig_session_finalize, read/write)
 *	Ends a started source session whose VMM the caller has paused: the
 *	worker harvests once more, sends that last round, then the VMM state
 *	blob (blob_len bytes at blob, at most LMIG_MAX_BLOB; may be empty)
 *	and FINAL. The session is finalizing until the destination
 *	acknowledges (completed) or anything fails (failed; the caller
 *	resumes its VMM then). Returns at once: LMIG_IOC_SESSION_WAIT waits.
 *	In: size, id, flags (zero), blob_len, blob, reserved (zero).
 *	Errors: ENOENT, EINVAL (not a source, bad flags or reserved), EBUSY
 *	(not active or converged, e.g. already finalizing), E2BIG (blob_len
 *	above LMIG_MAX_BLOB), EFAULT, ENOMEM.
 *
 * LMIG_IOC_SESSION_WAIT (struct lmig_session_wait, read/write)
 *	Waits until a session has finished (completed, failed or cancelled)
 *	or timeout_ms passed (0: no limit), and reports state and error. A
 *	completed destination session also hands over the VMM state blob
 *	the source sent: its length in blob_len and, when blob_capacity is
 *	at least that, its bytes at blob.
 *	In: size, id, timeout_ms, blob_capacity, blob, reserved (zero).
 *	Out: state, error, blob_len.
 *	Errors: ENOENT, EINVAL, ETIMEDOUT (not finished in time), EINTR (a
 *	signal), ENOSPC (blob_capacity below blob_len; the structure is
 *	still written back, with blob_len), EFAULT.
 *
 * LMIG_IOC_SESSION_REMOVE (struct lmig_session_id, read/write)
 *	Forgets a session that has finished (completed, failed, cancelled
 *	or in doubt). In: size, id.
 *	Errors: ENOENT, EBUSY (not finished: cancel it first).
 */
#ifndef _UAPI_LINUX_LMIG_H
#define _UAPI_LINUX_LMIG_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define LMIG_DEVICE_NAME	"lmig"

#define LMIG_VERSION_MAJOR	0
#define LMIG_VERSION_MINOR	5

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

#define LMIG_MAX_SESSIONS	256
#define LMIG_MAX_SLOTS		512
#define LMIG_MAX_QPS		4	/* per session, for its WRITEs */
#define LMIG_DEFAULT_PORT	7471
#define LMIG_TOKEN_LEN		32
#define LMIG_MAX_BLOB		(16U << 20)
#define LMIG_DEFAULT_DOWNTIME_MS 300

enum lmig_role {
	LMIG_ROLE_SOURCE = 1,
	LMIG_ROLE_DESTINATION = 2,
};

enum lmig_state {
	LMIG_STATE_SETUP = 0,		/* created; VM being attached */
	LMIG_STATE_ACTIVE = 1,		/* moving memory */
	LMIG_STATE_CONVERGED = 2,	/* the rest fits in the downtime limit */
	LMIG_STATE_FINALIZING = 3,	/* the VM is paused; last round */
	LMIG_STATE_COMPLETED = 4,	/* every page landed and was acknowledged */
	LMIG_STATE_FAILED = 5,		/* error says why */
	LMIG_STATE_CANCELLED = 6,
	/*
	 * Since 0.4, source only: FINAL went out but its ACK never came (the
	 * link or the peer failed right then). The destination may have
	 * completed and may run the VM: resume the source only once the
	 * destination's session is known not to have completed.
	 */
	LMIG_STATE_IN_DOUBT = 7,
};

struct lmig_session_create {
	__u32 size;		/* in: sizeof(struct lmig_session_create) */
	__u32 role;		/* in: enum lmig_role */
	__u32 flags;		/* in: zero */
	__u32 id;		/* out */
	__u64 reserved[4];	/* in: zero */
};

#define LMIG_SESSION_CREATE_SIZE_VER0	48

struct lmig_session_attach {
	__u32 size;		/* in: sizeof(struct lmig_session_attach) */
	__u32 id;		/* in: session */
	__s32 vm_fd;		/* in: a KVM VM file descriptor */
	__u32 flags;		/* in: zero */
	__u32 slots;		/* out: memslots that will be migrated */
	__u32 pad;
	__u64 total_pages;	/* out: pages in those memslots */
	__u64 reserved[4];	/* in: zero */
};

#define LMIG_SESSION_ATTACH_SIZE_VER0	64

struct lmig_session_id {
	__u32 size;		/* in: sizeof(struct lmig_session_id) */
	__u32 id;		/* in: session */
	__u64 reserved[3];	/* in: zero */
};

#define LMIG_SESSION_ID_SIZE_VER0	32

#define LMIG_START_MEASURE	_BITUL(0)	/* harvest and count, send nothing */
#define LMIG_MAX_INTERVAL_MS	60000

struct lmig_session_start {
	__u32 size;		/* in: sizeof(struct lmig_session_start) */
	__u32 id;		/* in: session */
	__u32 flags;		/* in: LMIG_START_* */
	__u32 interval_ms;	/* in: LMIG_START_MEASURE: time between harvests */
	__u32 downtime_limit_ms; /* in: 0: LMIG_DEFAULT_DOWNTIME_MS */
	__u32 pad;		/* in: zero */
	__u64 max_bandwidth;	/* in: bytes per second, 0: no limit */
	__u64 reserved[4];	/* in: zero */
};

#define LMIG_SESSION_START_SIZE_VER0	64

struct lmig_session_list {
	__u32 size;		/* in: sizeof(struct lmig_session_list) */
	__u32 capacity;		/* in: room at ids, in __u32s */
	__u64 ids;		/* in: pointer to __u32[capacity] */
	__u32 count;		/* out: number of sessions */
	__u32 pad;
	__u64 reserved[3];	/* in: zero */
};

#define LMIG_SESSION_LIST_SIZE_VER0	48

/* An RDMA CM address: IPv4 or IPv6, as for rdma_bind_addr(). */
struct lmig_endpoint {
	__u16 family;		/* AF_INET or AF_INET6 */
	__u16 port;		/* host byte order */
	__u32 scope_id;		/* AF_INET6 link-local scope, else zero */
	__u8 addr[16];		/* network byte order; AF_INET uses 4 */
};

struct lmig_session_listen {
	__u32 size;		/* in: sizeof(struct lmig_session_listen) */
	__u32 id;		/* in: session */
	__u32 flags;		/* in: zero */
	__u32 pad;		/* in: zero */
	struct lmig_endpoint local; /* in: where; out: with the port bound */
	__u8 token[LMIG_TOKEN_LEN]; /* out: the source must know it */
	__u64 reserved[4];	/* in: zero */
};

#define LMIG_SESSION_LISTEN_SIZE_VER0	104

struct lmig_session_connect {
	__u32 size;		/* in: sizeof(struct lmig_session_connect) */
	__u32 id;		/* in: session */
	__u32 flags;		/* in: zero */
	__u32 timeout_ms;	/* in: 0: 10000 */
	struct lmig_endpoint remote; /* in: the destination session's */
	__u8 token[LMIG_TOKEN_LEN]; /* in: its token */
	__u32 qps;		/* in, since 0.5: QPs for WRITEs; 0: 1 */
	__u32 reserved0;	/* in: zero */
	__u64 reserved[3];	/* in: zero */
};

#define LMIG_SESSION_CONNECT_SIZE_VER0	104

struct lmig_session_finalize {
	__u32 size;		/* in: sizeof(struct lmig_session_finalize) */
	__u32 id;		/* in: session */
	__u32 flags;		/* in: zero */
	__u32 blob_len;		/* in: bytes of VMM state, <= LMIG_MAX_BLOB */
	__u64 blob;		/* in: pointer to them */
	__u64 reserved[4];	/* in: zero */
};

#define LMIG_SESSION_FINALIZE_SIZE_VER0	56

struct lmig_session_wait {
	__u32 size;		/* in: sizeof(struct lmig_session_wait) */
	__u32 id;		/* in: session */
	__u32 timeout_ms;	/* in: 0: no limit */
	__u32 blob_capacity;	/* in: room at blob */
	__u64 blob;		/* in: pointer for the VMM state blob */
	__u32 state;		/* out: enum lmig_state */
	__s32 error;		/* out: as in struct lmig_status */
	__u32 blob_len;		/* out: length of the blob received */
	__u32 pad;
	__u64 reserved[4];	/* in: zero */
};

#define LMIG_SESSION_WAIT_SIZE_VER0	72

/* Times in ms, rates per second; zero until the session measures them. */
struct lmig_status {
	__u32 size;		/* in: sizeof(struct lmig_status) */
	__u32 id;		/* in: session */
	__u32 role;		/* enum lmig_role */
	__u32 state;		/* enum lmig_state */
	__s32 error;		/* a negative errno once failed, else 0 */
	__u32 slots;
	__u64 total_pages;
	__u64 transferred_pages;
	__u64 transferred_bytes;
	__u64 remaining_pages;
	__u64 zero_pages;
	__u64 rounds;
	__u64 dirty_rate_pps;
	__u64 throughput_mbps;
	__u64 expected_downtime_ms;
	__u64 downtime_ms;
	__u64 setup_time_ms;
	__u64 total_time_ms;
	__u8 peer[64];		/* the peer's address, NUL-terminated */
	__u64 downtime_limit_ms; /* what converged is measured against */
	__u64 qps;		/* since 0.5: QPs that carry WRITEs, once connected */
	__u64 reserved[7];	/* out: zero */
	/* Since 0.3: */
	char message[128];	/* why it failed, or what it waits for */
};

#define LMIG_STATUS_SIZE_VER0	256
#define LMIG_STATUS_SIZE_VER1	384

/* 0xB9 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define LMIG_IOC_MAGIC		0xB9

#define LMIG_IOC_VERSION	_IOWR(LMIG_IOC_MAGIC, 0x00, struct lmig_version)
#define LMIG_IOC_SESSION_CREATE	_IOWR(LMIG_IOC_MAGIC, 0x01, struct lmig_session_create)
#define LMIG_IOC_SESSION_ATTACH_VM _IOWR(LMIG_IOC_MAGIC, 0x02, struct lmig_session_attach)
#define LMIG_IOC_SESSION_STATUS	_IOWR(LMIG_IOC_MAGIC, 0x03, struct lmig_status)
#define LMIG_IOC_SESSION_LIST	_IOWR(LMIG_IOC_MAGIC, 0x04, struct lmig_session_list)
#define LMIG_IOC_SESSION_CANCEL	_IOWR(LMIG_IOC_MAGIC, 0x05, struct lmig_session_id)
#define LMIG_IOC_SESSION_REMOVE	_IOWR(LMIG_IOC_MAGIC, 0x06, struct lmig_session_id)
#define LMIG_IOC_SESSION_START	_IOWR(LMIG_IOC_MAGIC, 0x07, struct lmig_session_start)
#define LMIG_IOC_SESSION_LISTEN	_IOWR(LMIG_IOC_MAGIC, 0x08, struct lmig_session_listen)
#define LMIG_IOC_SESSION_CONNECT _IOWR(LMIG_IOC_MAGIC, 0x09, struct lmig_session_connect)
#define LMIG_IOC_SESSION_FINALIZE _IOWR(LMIG_IOC_MAGIC, 0x0a, struct lmig_session_finalize)
#define LMIG_IOC_SESSION_WAIT	_IOWR(LMIG_IOC_MAGIC, 0x0b, struct lmig_session_wait)

#endif /* _UAPI_LINUX_LMIG_H */
