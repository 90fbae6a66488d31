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
#include <linux/ktime.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "lmig.h"

static DEFINE_IDR(sessions);
static DEFINE_MUTEX(sessions_lock);

static bool finished(enum lmig_state state)
{
	return state == LMIG_STATE_COMPLETED || state == LMIG_STATE_FAILED ||
	       state == LMIG_STATE_CANCELLED;
}

static void session_release(struct kref *ref)
{
	struct lmig_session *s = container_of(ref, struct lmig_session, ref);

	lmig_vm_release(s->vm);
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

/* The state changes in one place, so that a trace of them is one line. */
static void set_state(struct lmig_session *s, enum lmig_state state, int error)
{
	lockdep_assert_held(&s->lock);
	pr_debug("session %u: state %d -> %d (error %d)\n", s->id, s->state, state, error);
	s->state = state;
	s->error = error;
	if (finished(state)) {
		lmig_harvest_stop(s);
		lmig_vm_release(s->vm);
		s->vm = NULL;
	}
}

/* A worker that stopped on an error has failed its session. */
static void check_worker(struct lmig_session *s)
{
	long err;

	lockdep_assert_held(&s->lock);
	spin_lock(&s->stats_lock);
	err = s->worker_error;
	spin_unlock(&s->stats_lock);
	if (err && !finished(s->state))
		set_state(s, LMIG_STATE_FAILED, err);
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
	if (s->stats.rounds && s->vm)
		st.remaining_pages = s->stats.remaining_pages;
	spin_unlock(&s->stats_lock);
	st.total_time_ms = ktime_ms_delta(ktime_get(), s->created);
	mutex_unlock(&s->lock);
	session_put(s);
	return lmig_copy_sized_to_user(argp, &st, sizeof(st));
}

long lmig_ioctl_session_start(void __user *argp)
{
	struct lmig_session_start st;
	struct lmig_session *s;
	int ret;

	ret = lmig_copy_sized_from_user(&st, sizeof(st), LMIG_SESSION_START_SIZE_VER0, argp);
	if (ret)
		return ret;
	if ((st.flags & ~LMIG_START_MEASURE) ||
	    !lmig_all_zero(st.reserved, ARRAY_SIZE(st.reserved)))
		return -EINVAL;
	if (st.interval_ms > LMIG_MAX_INTERVAL_MS)
		return -EINVAL;
	s = session_get(st.id);
	if (!s)
		return -ENOENT;

	mutex_lock(&s->lock);
	if (s->role != LMIG_ROLE_SOURCE || !s->vm) {
		ret = -EINVAL;
	} else if (s->state != LMIG_STATE_SETUP) {
		ret = -EBUSY;
	} else if (!(st.flags & LMIG_START_MEASURE)) {
		/* Sending needs a peer, and no transport connects one yet. */
		ret = -ENOTCONN;
	} else {
		ret = lmig_harvest_start(s, st.interval_ms ? st.interval_ms : 1000);
		if (!ret)
			set_state(s, LMIG_STATE_ACTIVE, 0);
	}
	mutex_unlock(&s->lock);
	session_put(s);
	return ret;
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
	if (!finished(s->state))
		set_state(s, LMIG_STATE_CANCELLED, 0);
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
		if (!finished(s->state))
			set_state(s, LMIG_STATE_CANCELLED, 0);
		mutex_unlock(&s->lock);
		idr_remove(&sessions, id);
		session_put(s);
	}
	mutex_unlock(&sessions_lock);
	idr_destroy(&sessions);
}
