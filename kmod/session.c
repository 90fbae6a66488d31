// SPDX-License-Identifier: GPL-2.0
/*
 * Sessions: kernel objects with small integer ids that outlive the fd they
 * were created through, so that lmctl's commands are one-shot and lmctl
 * may exit and come back.
 *
 * Locking: sessions_lock guards the id table and is taken before a
 * session's own lock, never after it. Each session is reference counted:
 * the table holds one reference, and every ioctl working on a session
 * holds another while it runs, so a remove never frees a session in use.
 */
#include <linux/err.h>
#include <linux/idr.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lmig.h"

static DEFINE_IDR(sessions);
static DEFINE_MUTEX(sessions_lock);

/* How long a cancel waits for the answer to a FINAL already sent. */
#define CANCEL_AFTER_FINAL	(10 * HZ)

static bool finished(enum lmig_state state)
{
	return state == LMIG_STATE_COMPLETED || state == LMIG_STATE_FAILED ||
	       state == LMIG_STATE_CANCELLED || state == LMIG_STATE_IN_DOUBT;
}

static void session_release(struct kref *ref)
{
	struct lmig_session *s = container_of(ref, struct lmig_session, ref);

	lmig_vm_release(s->vm);
	kvfree(s->req.blob);
	kvfree(s->blob);
	mutex_destroy(&s->lock);
	kfree(s);
}

static void session_put(struct lmig_session *s)
{
	kref_put(&s->ref, session_release);
}

static struct lmig_session *session_get(u32 id)
{
	struct lmig_session *s;

	mutex_lock(&sessions_lock);
	s = idr_find(&sessions, id);
	if (s)
		kref_get(&s->ref);
	mutex_unlock(&sessions_lock);
	return s;
}

static void worker_stop(struct lmig_session *s)
{
	lockdep_assert_held(&s->lock);
	if (!s->worker)
		return;
	kthread_stop(s->worker);
	s->worker = NULL;
	/* A worker stopped before it ran never answered its CONNECT. */
	if (!completion_done(&s->handshake)) {
		s->handshake_error = -ECANCELED;
		complete_all(&s->handshake);
	}
	s->work_free(s->work);
	s->work = NULL;
}

/* The state changes in one place, so that a trace of them is one line. */
static void set_state(struct lmig_session *s, enum lmig_state state, int error)
{
	lockdep_assert_held(&s->lock);
	pr_debug("session %u: state %d -> %d (error %d)\n", s->id, s->state, state, error);
	s->state = state;
	s->error = error;
	if (finished(state)) {
		worker_stop(s);
		lmig_vm_release(s->vm);
		s->vm = NULL;
		spin_lock(&s->stats_lock);
		if (!s->stats.total_time_ms)
			s->stats.total_time_ms = max_t(s64, 1,
						       ktime_ms_delta(ktime_get(), s->created));
		if (state == LMIG_STATE_CANCELLED &&
		    (!s->stats.message[0] || s->stats.message_is_note))
			strscpy(s->stats.message, "cancelled", sizeof(s->stats.message));
		spin_unlock(&s->stats_lock);
		wake_up_all(&s->done_wq);
	}
}

/* What the worker reported becomes the session's state here. */
static void check_worker(struct lmig_session *s)
{
	enum lmig_state phase;
	long err;

	lockdep_assert_held(&s->lock);
	spin_lock(&s->stats_lock);
	err = s->stats.error;
	phase = s->stats.phase;
	spin_unlock(&s->stats_lock);
	if (finished(s->state))
		return;
	if (phase == LMIG_STATE_IN_DOUBT)
		set_state(s, LMIG_STATE_IN_DOUBT, err);
	else if (err)
		set_state(s, LMIG_STATE_FAILED, err);
	else if (phase == LMIG_STATE_COMPLETED)
		set_state(s, LMIG_STATE_COMPLETED, 0);
	else if (phase && s->state != LMIG_STATE_FINALIZING)
		s->state = phase;
}

void lmig_worker_phase(struct lmig_session *s, enum lmig_state phase)
{
	spin_lock(&s->stats_lock);
	if (!s->stats.done)
		s->stats.phase = phase;
	spin_unlock(&s->stats_lock);
}

static void vmessage(struct lmig_session *s, const char *fmt, va_list ap)
{
	lockdep_assert_held(&s->stats_lock);
	vsnprintf(s->stats.message, sizeof(s->stats.message), fmt, ap);
}

void lmig_worker_message(struct lmig_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spin_lock(&s->stats_lock);
	vmessage(s, fmt, ap);
	s->stats.message_is_note = false;
	spin_unlock(&s->stats_lock);
	va_end(ap);
}

void lmig_worker_note(struct lmig_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spin_lock(&s->stats_lock);
	vmessage(s, fmt, ap);
	s->stats.message_is_note = true;
	spin_unlock(&s->stats_lock);
	va_end(ap);
}

static void worker_done(struct lmig_session *s)
{
	lockdep_assert_held(&s->stats_lock);
	s->stats.done = true;
	s->stats.total_time_ms = max_t(s64, 1, ktime_ms_delta(ktime_get(), s->created));
}

/*
 * One line in the kernel log per session that ends badly, so that a
 * failure can be explained after the fact; the message never holds the
 * token.
 */
static void report_end(struct lmig_session *s, const char *how)
{
	char msg[sizeof(s->stats.message)];

	/* The message names the error; status has the number. */
	spin_lock(&s->stats_lock);
	memcpy(msg, s->stats.message, sizeof(msg));
	spin_unlock(&s->stats_lock);
	pr_info_ratelimited("session %u (%s): %s: %s\n", s->id,
			    s->role == LMIG_ROLE_SOURCE ? "source" : "destination", how, msg);
}

void lmig_worker_fail(struct lmig_session *s, long err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spin_lock(&s->stats_lock);
	if (!s->stats.done) {
		s->stats.error = err;
		vmessage(s, fmt, ap);
		worker_done(s);
	}
	spin_unlock(&s->stats_lock);
	va_end(ap);
	report_end(s, "failed");
	wake_up_all(&s->done_wq);
}

static const char *explain(long err)
{
	switch (err) {
	case -ECONNRESET:
		return "the connection to the peer was lost";
	case -ETIMEDOUT:
		return "the peer did not answer in time";
	case -ENODEV:
		return "the RDMA device went away";
	case -EIO:
		return "an RDMA operation failed";
	case -EPROTO:
		return "the peer broke the protocol";
	case -ENOMEM:
		return "out of memory";
	case -ECANCELED:
		return "cancelled";
	default:
		return "error";
	}
}

/* Fails with the message set before, or one that explains err. */
void lmig_worker_failed(struct lmig_session *s, long err)
{
	spin_lock(&s->stats_lock);
	if (!s->stats.done) {
		s->stats.error = err;
		if (!s->stats.message[0] || s->stats.message_is_note)
			snprintf(s->stats.message, sizeof(s->stats.message), "%s (%ld)",
				 explain(err), err);
		worker_done(s);
	}
	spin_unlock(&s->stats_lock);
	report_end(s, "failed");
	wake_up_all(&s->done_wq);
}

void lmig_worker_in_doubt(struct lmig_session *s, long err)
{
	spin_lock(&s->stats_lock);
	if (!s->stats.done) {
		s->stats.phase = LMIG_STATE_IN_DOUBT;
		s->stats.error = err;
		snprintf(s->stats.message, sizeof(s->stats.message),
			 "FINAL unacknowledged (%s): the destination may run the VM",
			 explain(err));
		s->stats.message_is_note = false;
		worker_done(s);
	}
	spin_unlock(&s->stats_lock);
	report_end(s, "in doubt");
	wake_up_all(&s->done_wq);
}

void lmig_worker_complete(struct lmig_session *s)
{
	spin_lock(&s->stats_lock);
	if (!s->stats.done) {
		s->stats.phase = LMIG_STATE_COMPLETED;
		s->stats.message[0] = 0;
		worker_done(s);
	}
	spin_unlock(&s->stats_lock);
	wake_up_all(&s->done_wq);
}

void lmig_worker_park(void)
{
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
}

/* Starts fn(work) as the session's worker; work_free(work) runs after it. */
int lmig_worker_run(struct lmig_session *s, int (*fn)(void *), void *work,
		    void (*work_free)(void *), const char *what)
{
	struct task_struct *t;

	lockdep_assert_held(&s->lock);
	t = kthread_create(fn, work, "lmig-%s/%u", what, s->id);
	if (IS_ERR(t)) {
		work_free(work);
		return PTR_ERR(t);
	}
	s->worker = t;
	s->work = work;
	s->work_free = work_free;
	wake_up_process(t);
	return 0;
}

long lmig_ioctl_session_create(void __user *argp)
{
	struct lmig_session_create c;
	struct lmig_session *s;
	int ret;

	ret = lmig_copy_sized_from_user(&c, sizeof(c), LMIG_SESSION_CREATE_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (c.flags || !lmig_all_zero(c.reserved, ARRAY_SIZE(c.reserved)))
		return -EINVAL;
	if (c.role != LMIG_ROLE_SOURCE && c.role != LMIG_ROLE_DESTINATION)
		return -EINVAL;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	kref_init(&s->ref);
	mutex_init(&s->lock);
	spin_lock_init(&s->stats_lock);
	init_completion(&s->handshake);
	init_waitqueue_head(&s->done_wq);
	s->role = c.role;
	s->state = LMIG_STATE_SETUP;
	s->created = ktime_get();

	/* One reference for the table, one for this call. */
	kref_get(&s->ref);
	mutex_lock(&sessions_lock);
	ret = idr_alloc(&sessions, s, 1, LMIG_MAX_SESSIONS + 1, GFP_KERNEL);
	if (ret > 0)
		s->id = ret;
	mutex_unlock(&sessions_lock);
	if (ret < 0) {
		mutex_destroy(&s->lock);
		kfree(s);
		return ret;
	}

	c.id = s->id;
	pr_debug("session %u: created, role %d\n", s->id, s->role);
	ret = lmig_copy_sized_to_user(argp, &c, sizeof(c));
	if (ret) {
		/* Nobody learnt the id: take the session back, if still there. */
		mutex_lock(&sessions_lock);
		if (idr_find(&sessions, s->id) == s) {
			idr_remove(&sessions, s->id);
			session_put(s);
		}
		mutex_unlock(&sessions_lock);
	}
	session_put(s);
	return ret;
}

long lmig_ioctl_session_attach(void __user *argp)
{
	struct lmig_session_attach a;
	struct lmig_session *s;
	struct lmig_vm *vm;
	int ret;

	ret = lmig_copy_sized_from_user(&a, sizeof(a), LMIG_SESSION_ATTACH_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (a.flags || a.pad || !lmig_all_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return -EINVAL;
	s = session_get(a.id);
	if (!s)
		return -ENOENT;

	mutex_lock(&s->lock);
	if (s->state != LMIG_STATE_SETUP || s->vm) {
		ret = -EBUSY;
		goto out;
	}
	vm = lmig_vm_attach(a.vm_fd);
	if (IS_ERR(vm)) {
		ret = PTR_ERR(vm);
		goto out;
	}
	s->vm = vm;
	a.slots = vm->nslots;
	a.total_pages = vm->total_pages;
	ret = lmig_copy_sized_to_user(argp, &a, sizeof(a));
out:
	mutex_unlock(&s->lock);
	session_put(s);
	return ret;
}

long lmig_ioctl_session_status(void __user *argp)
{
	struct lmig_session *s;
	struct lmig_status st;
	u32 usize;
	int ret;

	ret = lmig_copy_sized_from_user(&st, sizeof(st), LMIG_STATUS_SIZE_VER0, argp);
	if (ret)
		return ret;
	s = session_get(st.id);
	if (!s)
		return -ENOENT;

	usize = st.size;
	memset(&st, 0, sizeof(st));
	st.size = usize;
	mutex_lock(&s->lock);
	check_worker(s);
	st.id = s->id;
	st.role = s->role;
	st.state = s->state;
	st.error = s->error;
	if (s->vm) {
		st.slots = s->vm->nslots;
		st.total_pages = s->vm->total_pages;
		st.remaining_pages = s->vm->total_pages;
	}
	spin_lock(&s->stats_lock);
	st.rounds = s->stats.rounds;
	st.dirty_rate_pps = s->stats.dirty_rate_pps;
	if ((s->stats.rounds || s->stats.phase) && s->vm)
		st.remaining_pages = s->stats.remaining_pages;
	st.transferred_pages = s->stats.transferred_pages;
	st.transferred_bytes = s->stats.transferred_bytes;
	st.zero_pages = s->stats.zero_pages;
	st.throughput_mbps = s->stats.throughput_mbps;
	st.expected_downtime_ms = s->stats.expected_downtime_ms;
	st.downtime_ms = s->stats.downtime_ms;
	st.setup_time_ms = s->stats.setup_time_ms;
	st.downtime_limit_ms = s->req.downtime_limit_ms;
	st.total_time_ms = s->stats.total_time_ms;
	st.qps = s->stats.qps;
	memcpy(st.peer, s->stats.peer, sizeof(st.peer));
	memcpy(st.message, s->stats.message, sizeof(st.message));
	spin_unlock(&s->stats_lock);
	if (!st.total_time_ms)
		st.total_time_ms = ktime_ms_delta(ktime_get(), s->created);
	st.peer[sizeof(st.peer) - 1] = 0;
	st.message[sizeof(st.message) - 1] = 0;
	mutex_unlock(&s->lock);
	session_put(s);
	return lmig_copy_sized_to_user(argp, &st, sizeof(st));
}

/* The source's worker waits for this, after its handshake. */
static int start_sending(struct lmig_session *s, const struct lmig_session_start *st)
{
	if (!s->worker)
		return -ENOTCONN;
	if (s->req.go)
		return -EBUSY;
	if (!completion_done(&s->handshake) || s->handshake_error)
		return -ENOTCONN;
	spin_lock(&s->stats_lock);
	s->req.go = true;
	s->req.downtime_limit_ms = st->downtime_limit_ms ?: LMIG_DEFAULT_DOWNTIME_MS;
	s->req.max_bandwidth = st->max_bandwidth;
	spin_unlock(&s->stats_lock);
	set_state(s, LMIG_STATE_ACTIVE, 0);
	wake_up_process(s->worker);
	return 0;
}

long lmig_ioctl_session_start(void __user *argp)
{
	struct lmig_session_start st;
	struct lmig_session *s;
	int ret;

	ret = lmig_copy_sized_from_user(&st, sizeof(st), LMIG_SESSION_START_SIZE_VER0, argp);
	if (ret)
		return ret;
	if ((st.flags & ~LMIG_START_MEASURE) || st.pad ||
	    !lmig_all_zero(st.reserved, ARRAY_SIZE(st.reserved)))
		return -EINVAL;
	if (st.interval_ms > LMIG_MAX_INTERVAL_MS)
		return -EINVAL;
	s = session_get(st.id);
	if (!s)
		return -ENOENT;

	mutex_lock(&s->lock);
	check_worker(s);
	/*
	 * The state comes before the VM: a session that failed after
	 * CONNECT has already let its VM go, and is busy, not unattached.
	 */
	if (s->role != LMIG_ROLE_SOURCE) {
		ret = -EINVAL;
	} else if (s->state != LMIG_STATE_SETUP) {
		ret = -EBUSY;
	} else if (!s->vm) {
		ret = -EINVAL;
	} else if (!(st.flags & LMIG_START_MEASURE)) {
		ret = start_sending(s, &st);
	} else if (s->worker) {
		ret = -EBUSY;	/* connected: it sends, it does not measure */
	} else {
		ret = lmig_measure_start(s, st.interval_ms ? st.interval_ms : 1000);
		if (!ret)
			set_state(s, LMIG_STATE_ACTIVE, 0);
	}
	mutex_unlock(&s->lock);
	session_put(s);
	return ret;
}

static int endpoint_to_sockaddr(const struct lmig_endpoint *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (e->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (e->scope_id || !lmig_all_zero((const u64 *)e->addr + 1, 1) ||
		    e->addr[4] || e->addr[5] || e->addr[6] || e->addr[7])
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(e->port ?: LMIG_DEFAULT_PORT);
		memcpy(&sin->sin_addr, e->addr, 4);
		return 0;
	}
	if (e->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(e->port ?: LMIG_DEFAULT_PORT);
		sin6->sin6_scope_id = e->scope_id;
		memcpy(&sin6->sin6_addr, e->addr, 16);
		return 0;
	}
	return -EINVAL;
}

long lmig_ioctl_session_listen(void __user *argp)
{
	struct lmig_session_listen l;
	struct sockaddr_storage ss;
	struct lmig_session *s;
	int ret;

	ret = lmig_copy_sized_from_user(&l, sizeof(l), LMIG_SESSION_LISTEN_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (l.flags || l.pad || !lmig_all_zero(l.reserved, ARRAY_SIZE(l.reserved)))
		return -EINVAL;
	ret = endpoint_to_sockaddr(&l.local, &ss);
	if (ret)
		return ret;
	s = session_get(l.id);
	if (!s)
		return -ENOENT;

	mutex_lock(&s->lock);
	if (s->role != LMIG_ROLE_DESTINATION || !s->vm)
		ret = -EINVAL;
	else if (s->state != LMIG_STATE_SETUP || s->worker)
		ret = -EBUSY;
	else
		ret = lmig_dest_listen(s, (struct sockaddr *)&ss, l.token);
	mutex_unlock(&s->lock);
	session_put(s);
	if (ret)
		return ret;
	if (ss.ss_family == AF_INET6)
		l.local.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		l.local.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	ret = lmig_copy_sized_to_user(argp, &l, sizeof(l));
	memzero_explicit(l.token, sizeof(l.token));
	return ret;
}

long lmig_ioctl_session_connect(void __user *argp)
{
	struct lmig_session_connect c;
	struct sockaddr_storage ss;
	struct lmig_session *s;
	int ret;

	ret = lmig_copy_sized_from_user(&c, sizeof(c), LMIG_SESSION_CONNECT_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (c.flags || c.reserved0 || c.qps > LMIG_MAX_QPS ||
	    !lmig_all_zero(c.reserved, ARRAY_SIZE(c.reserved)))
		ret = -EINVAL;
	else
		ret = endpoint_to_sockaddr(&c.remote, &ss);
	if (ret)
		goto out_wipe;
	s = session_get(c.id);
	ret = -ENOENT;
	if (!s)
		goto out_wipe;

	mutex_lock(&s->lock);
	if (s->role != LMIG_ROLE_SOURCE || !s->vm)
		ret = -EINVAL;
	else if (s->state != LMIG_STATE_SETUP || s->worker)
		ret = -EBUSY;
	else
		ret = lmig_source_connect(s, (struct sockaddr *)&ss, c.token,
					  msecs_to_jiffies(c.timeout_ms ?: 10000), c.qps ?: 1);
	mutex_unlock(&s->lock);
	if (!ret) {
		/* The worker connects and authenticates; cancel cuts it short. */
		if (wait_for_completion_interruptible(&s->handshake))
			ret = -EINTR;
		else
			ret = s->handshake_error;
	}
	session_put(s);
out_wipe:
	memzero_explicit(c.token, sizeof(c.token));
	return ret;
}

long lmig_ioctl_session_finalize(void __user *argp)
{
	struct lmig_session_finalize f;
	struct lmig_session *s;
	void *blob = NULL;
	int ret;

	ret = lmig_copy_sized_from_user(&f, sizeof(f), LMIG_SESSION_FINALIZE_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (f.flags || !lmig_all_zero(f.reserved, ARRAY_SIZE(f.reserved)))
		return -EINVAL;
	if (f.blob_len > LMIG_MAX_BLOB)
		return -E2BIG;
	if (f.blob_len) {
		blob = kvmalloc(f.blob_len, GFP_KERNEL);
		if (!blob)
			return -ENOMEM;
		if (copy_from_user(blob, u64_to_user_ptr(f.blob), f.blob_len)) {
			kvfree(blob);
			return -EFAULT;
		}
	}
	s = session_get(f.id);
	if (!s) {
		kvfree(blob);
		return -ENOENT;
	}

	mutex_lock(&s->lock);
	check_worker(s);
	if (s->role != LMIG_ROLE_SOURCE || !s->req.go) {
		ret = s->role != LMIG_ROLE_SOURCE ? -EINVAL : -EBUSY;
	} else if (s->state != LMIG_STATE_ACTIVE && s->state != LMIG_STATE_CONVERGED) {
		ret = -EBUSY;
	} else {
		spin_lock(&s->stats_lock);
		s->req.finalize = true;
		s->req.blob = blob;
		s->req.blob_len = f.blob_len;
		spin_unlock(&s->stats_lock);
		blob = NULL;
		set_state(s, LMIG_STATE_FINALIZING, 0);
		wake_up_process(s->worker);
	}
	mutex_unlock(&s->lock);
	session_put(s);
	kvfree(blob);
	return ret;
}

static bool session_done(struct lmig_session *s)
{
	bool done;

	spin_lock(&s->stats_lock);
	done = s->stats.done;
	spin_unlock(&s->stats_lock);
	return done || finished(READ_ONCE(s->state));
}

long lmig_ioctl_session_wait(void __user *argp)
{
	struct lmig_session_wait w;
	struct lmig_session *s;
	long left;
	int ret;

	ret = lmig_copy_sized_from_user(&w, sizeof(w), LMIG_SESSION_WAIT_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (w.pad || !lmig_all_zero(w.reserved, ARRAY_SIZE(w.reserved)))
		return -EINVAL;
	s = session_get(w.id);
	if (!s)
		return -ENOENT;

	left = wait_event_interruptible_timeout(s->done_wq, session_done(s),
						w.timeout_ms ? msecs_to_jiffies(w.timeout_ms) :
						MAX_SCHEDULE_TIMEOUT);
	mutex_lock(&s->lock);
	check_worker(s);
	w.state = s->state;
	w.error = s->error;
	w.blob_len = 0;
	if (!finished(s->state)) {
		ret = left < 0 ? -EINTR : -ETIMEDOUT;
	} else if (s->state == LMIG_STATE_COMPLETED && s->blob) {
		w.blob_len = s->blob_len;
		if (w.blob_capacity < s->blob_len)
			ret = -ENOSPC;
		else if (copy_to_user(u64_to_user_ptr(w.blob), s->blob, s->blob_len))
			ret = -EFAULT;
	}
	mutex_unlock(&s->lock);
	session_put(s);
	if (ret && ret != -ENOSPC)
		return ret;
	return lmig_copy_sized_to_user(argp, &w, sizeof(w)) ?: ret;
}

long lmig_ioctl_session_list(void __user *argp)
{
	struct lmig_session_list l;
	struct lmig_session *s;
	u32 *ids, n = 0;
	int id, ret;

	ret = lmig_copy_sized_from_user(&l, sizeof(l), LMIG_SESSION_LIST_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (l.pad || !lmig_all_zero(l.reserved, ARRAY_SIZE(l.reserved)))
		return -EINVAL;

	ids = kcalloc(LMIG_MAX_SESSIONS, sizeof(*ids), GFP_KERNEL);
	if (!ids)
		return -ENOMEM;
	mutex_lock(&sessions_lock);
	idr_for_each_entry(&sessions, s, id)
		ids[n++] = id;
	mutex_unlock(&sessions_lock);

	l.count = n;
	if (copy_to_user(u64_to_user_ptr(l.ids), ids,
			 min(n, l.capacity) * sizeof(*ids)))
		ret = -EFAULT;
	else
		ret = lmig_copy_sized_to_user(argp, &l, sizeof(l));
	kfree(ids);
	return ret;
}

static int get_session_id(void __user *argp, u32 *id)
{
	struct lmig_session_id sid;
	int ret;

	ret = lmig_copy_sized_from_user(&sid, sizeof(sid), LMIG_SESSION_ID_SIZE_VER0, argp);
	if (ret)
		return ret;
	if (!lmig_all_zero(sid.reserved, ARRAY_SIZE(sid.reserved)))
		return -EINVAL;
	*id = sid.id;
	return 0;
}

/*
 * The worker stops first: what it finished meanwhile stands. A source that
 * already sent FINAL cannot take it back: the answer decides if it comes
 * soon, and without one the session is in doubt, not cancelled.
 */
static void cancel(struct lmig_session *s)
{
	bool final_sent;

	lockdep_assert_held(&s->lock);
	if (finished(s->state))
		return;
	spin_lock(&s->stats_lock);
	final_sent = s->stats.final_sent;
	spin_unlock(&s->stats_lock);
	if (final_sent)
		wait_event_timeout(s->done_wq, READ_ONCE(s->stats.done), CANCEL_AFTER_FINAL);
	worker_stop(s);
	check_worker(s);
	if (finished(s->state))
		return;
	spin_lock(&s->stats_lock);
	final_sent = s->stats.final_sent;
	spin_unlock(&s->stats_lock);
	if (final_sent) {
		lmig_worker_in_doubt(s, -ECANCELED);
		check_worker(s);
	} else {
		set_state(s, LMIG_STATE_CANCELLED, 0);
	}
}

long lmig_ioctl_session_cancel(void __user *argp)
{
	struct lmig_session *s;
	u32 id;
	int ret;

	ret = get_session_id(argp, &id);
	if (ret)
		return ret;
	s = session_get(id);
	if (!s)
		return -ENOENT;
	mutex_lock(&s->lock);
	cancel(s);
	mutex_unlock(&s->lock);
	session_put(s);
	return 0;
}

long lmig_ioctl_session_remove(void __user *argp)
{
	struct lmig_session *s;
	u32 id;
	int ret;

	ret = get_session_id(argp, &id);
	if (ret)
		return ret;
	mutex_lock(&sessions_lock);
	s = idr_find(&sessions, id);
	if (!s) {
		ret = -ENOENT;
	} else {
		mutex_lock(&s->lock);
		/* What the worker reported counts, whether or not anyone asked. */
		check_worker(s);
		if (finished(s->state))
			idr_remove(&sessions, id);
		else
			ret = -EBUSY;
		mutex_unlock(&s->lock);
	}
	mutex_unlock(&sessions_lock);
	if (!ret) {
		pr_debug("session %u: removed\n", id);
		session_put(s);
	}
	return ret;
}

/* Module unload: every session is cancelled and forgotten. */
void lmig_sessions_exit(void)
{
	struct lmig_session *s;
	int id;

	mutex_lock(&sessions_lock);
	idr_for_each_entry(&sessions, s, id) {
		mutex_lock(&s->lock);
		cancel(s);
		mutex_unlock(&s->lock);
		idr_remove(&sessions, id);
		session_put(s);
	}
	mutex_unlock(&sessions_lock);
	idr_destroy(&sessions);
}
